"""GradDrop: keep, per component, the gradients of one sign at random."""

import functools

import keras
import tensorflow as tf

from keras_gs.surgery.elementwise import ElementwiseRule


@tf.autograph.experimental.do_not_convert
def graddrop(domain_grads, uniforms, leak=0.0):
    """GradDrop's update, component by component (Chen et al., 2020).

    Per component, P = 1/2 (1 + sum_k g_k / sum_k |g_k|) is the share of
    positive "mass"; with a uniform draw U, the positive gradients are kept
    where P > U and the negative ones where P < U, and

        d = sum_k (leak_k + (1 - leak_k) M_k) g_k

    (lines 10-15 of Algorithm 1, as TorchJD's `GradDrop` with f = identity).
    A component where every g_k is 0 stays 0 (TorchJD's 0/0 = NaN there
    only enters comparisons; here P = 1/2).

    Not a Gramian rule: it reads every component. Scale: K identical
    gradients g give K g (a sum). Exactly opposed g, -g give a random sign
    mixture (one of them, per component).

    LibMTL applies GradDrop to the gradients of a shared representation,
    with a batch sign correction; that is not this (parameter gradients,
    as TorchJD).

    Reference: [Just Pick a Sign: Optimizing Deep Multitask Models with
    Gradient Sign Dropout](https://arxiv.org/abs/2010.06808), NeurIPS 2020.

    Args:
        domain_grads: one list of per-variable gradient tensors per domain.
        uniforms: one tensor of U[0, 1) draws per variable, of its shape
            (drawn by the caller, statelessly, the same on every replica).
        leak: float, or one float per domain, in [0, 1]: the share of each
            domain's gradient always let through. Defaults to 0.

    Returns:
        One tensor per variable: the update.
    """
    k = len(domain_grads)
    leaks = list(leak) if isinstance(leak, (list, tuple)) else [leak] * k
    if len(leaks) != k:
        raise ValueError(
            f"graddrop: `leak` needs one value per domain (K={k}). "
            f"Received: leak={leak!r}."
        )
    if len(uniforms) != len(domain_grads[0]):
        raise ValueError(
            f"graddrop: `uniforms` needs one tensor per variable "
            f"({len(domain_grads[0])}). Received: {len(uniforms)}."
        )
    update = []
    for variable_grads, u in zip(zip(*domain_grads), uniforms):
        total = tf.add_n(list(variable_grads))
        mass = tf.add_n([tf.abs(x) for x in variable_grads])
        positive_share = 0.5 * (1.0 + tf.math.divide_no_nan(total, mass))
        u = tf.cast(u, total.dtype)
        keep_positive = positive_share > u
        keep_negative = positive_share < u
        terms = []
        for x, lk in zip(variable_grads, leaks):
            kept = (keep_positive & (x > 0)) | (keep_negative & (x < 0))
            factor = lk + (1.0 - lk) * tf.cast(kept, x.dtype)
            terms.append(factor * x)
        update.append(tf.add_n(terms))
    return update


@keras.saving.register_keras_serializable(package="keras_gs")
class GradDrop(ElementwiseRule):
    """GradDrop: per component, keep the gradients of one sign, drawn at
    random in proportion to the sign's share of the gradient mass.

    P = 1/2 (1 + sum_k g_k / sum_k |g_k|) per component; with U uniform in
    [0, 1), the positive gradients are kept where P > U, the negative ones
    where P < U (`graddrop`). U is drawn anew each step, statelessly from
    the step's seed, the same on every replica.

    Scale: a sum; K identical gradients g give K g.

    As TorchJD's `GradDrop` (f = identity) on parameter gradients. LibMTL's
    `GradDrop` works on the gradients of a shared representation with a
    batch sign correction, a different quantity.

    Args:
        leak: float in [0, 1], the share of every gradient always let
            through. Defaults to `0.0`.

    Example:

    >>> keras_gs.surgery.get("graddrop", leak=0.1)
    GradDrop(leak=0.1)

    Reference: [Just Pick a Sign: Optimizing Deep Multitask Models with
    Gradient Sign Dropout](https://arxiv.org/abs/2010.06808), NeurIPS 2020.
    """

    name = "graddrop"
    random = True

    def __init__(self, leak=0.0):
        if not 0.0 <= float(leak) <= 1.0:
            raise ValueError(
                f"graddrop: `leak` must be in [0, 1]. Received: leak={leak}"
            )
        self.leak = float(leak)

    def combine(self, domain_grads, seed):
        seed = tf.cast(seed, tf.int64)
        uniforms = [
            tf.random.stateless_uniform(
                tf.shape(g),
                seed=tf.random.experimental.stateless_fold_in(seed, index),
                dtype=g.dtype,
            )
            for index, g in enumerate(domain_grads[0])
        ]
        return graddrop(domain_grads, uniforms, self.leak)

    def replaced_masks(self, domain_grads):
        # A component with gradients of both signs loses one side.
        masks = []
        for variable_grads in zip(*domain_grads):
            positive = functools.reduce(
                tf.logical_or, [g > 0 for g in variable_grads]
            )
            negative = functools.reduce(
                tf.logical_or, [g < 0 for g in variable_grads]
            )
            masks.append(positive & negative)
        return masks

    def get_config(self):
        return {"leak": self.leak}
