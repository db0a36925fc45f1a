"""Regularization in the surgery step: what is masked and what is not.

As in the paper's code, weight regularizers (`kernel_regularizer`...) and
the coupled L2 are added to the update after the surgery, once per step,
never masked; losses added during the forward pass (`add_loss`, activity
regularizers) belong to their domain's loss and go through the surgery.
"""

import tensorflow as tf

from keras_gs.model import keras_compat


def regularized_variables(variables):
    return [v for v in variables if getattr(v, "regularizer", None) is not None]


def forward_losses(model):
    """The last pass's `add_loss` terms, weight regularization left out."""
    losses = model.losses
    # Keras lists weight-regularization losses last in `model.losses`.
    num_forward = len(losses) - len(
        regularized_variables(model.trainable_variables)
    )
    total = tf.constant(0.0)
    for extra in losses[:num_forward]:
        total = total + keras_compat.aggregate_additional_loss(model, extra)
    return total


def weight_gradients(model, variables, optimizer=None):
    """Local gradients of the weight-regularization losses, loss-scaled.

    `optimizer` (default: the model's) is the one whose loss scale applies.
    """
    optimizer = optimizer or model.optimizer
    regularized = regularized_variables(variables)
    if not regularized:
        return []
    with tf.GradientTape() as tape:
        loss = tf.add_n(
            [
                keras_compat.aggregate_additional_loss(model, v.regularizer(v))
                for v in regularized
            ]
        )
        loss = optimizer.scale_loss(loss)
    return zeros_for_none(tape.gradient(loss, variables), variables)


def add_coupled_l2(update, variables, coefficient):
    """`update + coefficient * w`: the paper's L2 (torch's weight_decay)."""
    if not coefficient:
        return update
    return [
        u + coefficient * tf.cast(v, u.dtype) for u, v in zip(update, variables)
    ]


def zeros_for_none(grads, variables):
    """Gradients with zeros for the variables a loss does not reach."""
    return [
        tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
        for g, v in zip(grads, variables)
    ]
