"""The step's cross-replica maths and loss scale (METHOD.md §5).

Under a `tf.distribute` strategy of R replicas Keras divides every loss by
R, and `optimizer.apply` sums the gradients of the R replicas. A surgery
on each replica's local gradients would then be another algorithm (a mask
of a sum is not a sum of masks). So the step sums each domain's gradient
across replicas first (`global_gradients`: every replica then holds the
global per-domain gradients), combines them, and hands the optimizer 1/R
of the result (`apply`), which its own sum turns back into one copy.

Under mixed precision the losses were multiplied by the optimizer's loss
scale before differentiation; the scale is removed from the gradients
before the surgery sees them and put back for the optimizer, which removes
it again and skips non-finite steps itself.
"""

import keras
import tensorflow as tf

from keras_gs.utils import distribute


def loss_scale(optimizer):
    """The factor `optimizer.scale_loss` multiplied the losses by."""
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return 1.0
    # Before its first step the optimizer is unbuilt and scales by its
    # initial scale, which its build then takes as the dynamic scale.
    return optimizer.dynamic_scale if optimizer.built else optimizer.initial_scale


def global_gradients(grads, optimizer):
    """Gradients summed across replicas (one collective), unscaled.

    Keras already divided each loss by R, so the sum is the gradient of the
    global batch's loss.
    """
    return scaled(distribute.sum_across_replicas(grads), 1.0 / loss_scale(optimizer))


def apply(optimizer, update, variables, applied):
    """Applies the global `update` where `applied`, the same on every replica.

    The optimizer sums the R identical copies across replicas: it gets 1/R
    of the update (with the loss scale it removes put back).
    """
    update = scaled(update, loss_scale(optimizer) / distribute.num_replicas())
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # It skips non-finite steps itself and lowers its loss scale. A
        # surgery may mask a NaN away (Agr-Sum), so the decision taken on
        # the domain gradients is passed on as a NaN update.
        poison = tf.where(applied, 1.0, float("nan"))
        optimizer.apply([u * tf.cast(poison, u.dtype) for u in update], variables)
    else:
        distribute.apply_if(applied, optimizer, update, variables)


def scaled(tensors, factor):
    """Multiplies by `factor`, skipping the copy when it is a Python 1."""
    if isinstance(factor, float) and factor == 1.0:
        return list(tensors)
    return [t * tf.cast(factor, t.dtype) for t in tensors]
