"""The forward and backward passes of a step: one per source domain.

Each domain's batch goes through the network in training mode under its
own `tf.GradientTape`, with the compiled loss plus the pass's `add_loss`
terms. A joint-batch surgery (ERM, the paper's Deep-All) instead takes one
pass over the concatenated batch of all domains, whose predictions are
split back into domains for the per-domain losses it logs.
"""

import collections
import contextlib

import tensorflow as tf

from keras_gs.model import domain_axis
from keras_gs.model import joint_batch_losses
from keras_gs.model import keras_compat
from keras_gs.model import regularization


def domain_passes(model, x, y, sample_weight, fold):
    """Runs the step's passes; hands each pass's gradients to `fold`.

    Args:
        model: the `GradSurgeryModel`.
        x, y, sample_weight: the batch, with the domain axis.
        fold: callable `(local gradients) -> tensors`: receives each pass's
            gradients (one per trainable variable, loss-scaled, of this
            replica); the next pass starts after the tensors it returns
            exist, so that a streaming combiner holds one domain's
            gradients at a time.

    Returns:
        `(losses, y_pred)`: each domain's loss (as Keras computes it, over
        R replicas) and predictions.
    """
    num_domains = model.num_domains
    joint = model.surgery.joint_batch
    data = (x, y, sample_weight)
    if joint:
        passes = [tuple(domain_axis.join(t) for t in data)]
    else:
        passes = [
            tuple(domain_axis.domain(t, k) for t in data)
            for k in range(num_domains)
        ]
    variables = model.trainable_variables
    activity = joint_batch_losses.ActivityLosses(model.network, num_domains)
    losses, y_pred, waiting = [], [], []
    for x_pass, y_pass, weight_pass in passes:
        with tf.control_dependencies(waiting):
            result = forward_backward(
                model,
                x_pass,
                y_pass,
                weight_pass,
                variables,
                recording=activity.recording() if joint else None,
            )
        waiting = fold(result.grads)
        losses.append(result.loss)
        y_pred.append(result.pred)
    if joint:
        return joint_domain_losses(
            model, y, sample_weight, y_pred[0], activity, result.added
        )
    return losses, y_pred


Pass = collections.namedtuple("Pass", ["loss", "pred", "grads", "added"])
Pass.__doc__ = """One forward and backward pass of this replica.

Fields:
    loss: scalar, the compiled loss plus the pass's `add_loss` terms (as
        Keras computes them, divided by the number of replicas).
    pred: the predictions.
    grads: list of tensors, one per variable: the gradient of the loss
        times the optimizer's loss scale.
    added: scalar, the pass's `add_loss` terms alone.
"""


def forward_backward(
    model, x, y, sample_weight, variables, optimizer=None, recording=None
) -> Pass:
    """A training-mode pass of `x` under its own tape, and its gradients.

    Args:
        model: the `GradSurgeryModel`.
        x, y, sample_weight: one batch without the domain axis.
        variables: the variables to differentiate.
        optimizer: the optimizer whose loss scale applies. Defaults to the
            model's.
        recording: a context manager entered around the forward call
            (`ActivityLosses.recording()`), or None.
    """
    optimizer = optimizer or model.optimizer
    with tf.GradientTape() as tape:
        with recording or contextlib.nullcontext():
            pred = model(x, training=True)
        added = regularization.forward_losses(model)
        loss = compiled_loss(model, y, pred, sample_weight) + added
        scaled = optimizer.scale_loss(loss)
    grads = regularization.zeros_for_none(
        tape.gradient(scaled, variables), variables
    )
    return Pass(loss, pred, grads, added)


def joint_domain_losses(model, y, sample_weight, pred, activity, added):
    """Each domain's share of one joint pass, as the per-domain passes
    would log it.

    Args:
        model: the `GradSurgeryModel`.
        y, sample_weight: the batch, with the domain axis.
        pred: the joint pass's predictions (domains joined).
        activity: the `ActivityLosses` that recorded the pass.
        added: scalar, the pass's `add_loss` terms.

    Returns:
        `(losses, y_pred)`: K losses and K predictions.
    """
    num_domains = model.num_domains
    y_pred = domain_axis.unjoin(pred, num_domains)
    losses = [
        compiled_loss(
            model,
            domain_axis.domain(y, k),
            domain_pred,
            domain_axis.domain(sample_weight, k),
        )
        + term
        for k, (domain_pred, term) in enumerate(
            zip(y_pred, activity.domain_terms(added))
        )
    ]
    return losses, y_pred


def compiled_loss(model, y, y_pred, sample_weight):
    loss = keras_compat.compiled_loss(model)
    if loss is None:
        raise ValueError(
            "GradSurgeryModel needs a loss: call `compile(loss=...)` before "
            "`fit`."
        )
    return loss(y, y_pred, sample_weight)
