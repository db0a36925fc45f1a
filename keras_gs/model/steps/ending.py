"""The end of every step rule: what keeps its update exact under
`tf.distribute`.

A rule computes its replica's gradients, then ends in two calls:
`global_sum` (one collective over the gradients and the weight
regularizers' gradients, and the finite check) and `apply` (the coupled
L2, 1/R of the update to the optimizer, the BatchNorm statistics). The
surgeries' combiner does the first inside `combiner.finish`, with the
surgery between the sum and the update; `apply` ends them all.
"""

import contextlib

from keras_gs.model import regularization
from keras_gs.model import replicas
from keras_gs.utils import distribute


def global_sum(grads, regularizers, optimizer, checked=()):
    """The global gradients, summed across replicas in one collective.

    Args:
        grads: the replica's gradients (loss-scaled, one per variable).
        regularizers: the weight regularizers' gradients, or `[]`.
        optimizer: the optimizer whose loss scale is removed.
        checked: further global tensors that must be finite for the step
            to apply (IGA's domain gradients).

    Returns:
        `(grads, regularizers, finite)`: the global gradients and the
        regularizers' (for `apply`, which adds them after the rule's own
        arithmetic), and a scalar bool, the same on every replica: whether
        all of them and `checked` are finite.
    """
    flat = replicas.global_gradients(list(grads) + list(regularizers), optimizer)
    finite = distribute.all_finite(list(checked) + flat)
    return flat[: len(grads)], flat[len(grads) :], finite


def apply(
    context,
    update,
    finite,
    regularizers=(),
    batchnorm=None,
    optimizer=None,
    counting=None,
):
    """Applies a global update where `finite`, as one device would.

    Args:
        context: the step's `StepContext` (its model's trainable variables,
            `coupled_l2`, optimizer).
        update: the global update, one tensor per trainable variable.
        finite: scalar bool, the same on every replica.
        regularizers: the global weight regularizers' gradients
            (`global_sum`'s), added to the update, or `()` where the
            update holds them (the combiner's).
        batchnorm: the step's `batchnorm_statistics` recorder, whose
            moving statistics are updated where `finite`; None for a rule
            that updates them in its passes (Fish).
        optimizer: the optimizer that applies it, if not the compiled one
            (Fish's inner optimizer).
        counting: a context the optimizer applies within (Fishr's
            restarted step count), or None.
    """
    variables = context.model.trainable_variables
    if regularizers:
        update = [u + r for u, r in zip(update, regularizers)]
    # Coupled: after the rule, so never masked nor reweighted by it.
    update = regularization.add_coupled_l2(update, variables, context.coupled_l2)
    optimizer = context.optimizer if optimizer is None else optimizer
    with counting if counting is not None else contextlib.nullcontext():
        replicas.apply(optimizer, update, variables, finite)
    if batchnorm is not None:
        batchnorm.apply(finite)
