"""UPGrad: the mean of the domain gradients, each projected onto the dual
cone."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.dual_cone import dual_cone_projection_weights
from keras_gs.surgery.gram_weighting import GramWeighting


def preference_vector(pref_vector, k: int, rule: str):
    """The (K,) float64 preference vector p; 1/K when None."""
    if pref_vector is None:
        return tf.fill([k], tf.constant(1.0 / k, tf.float64))
    p = tf.cast(tf.reshape(pref_vector, [-1]), tf.float64)
    if p.shape[0] != k:
        raise ValueError(
            f"{rule}: `pref_vector` must have one entry per domain (K={k}). "
            f"Received: shape={p.shape}."
        )
    return p


@tf.autograph.experimental.do_not_convert
def upgrad_weights(gram, pref_vector=None):
    """UPGrad's weights: d = sum_i pi_C(p_i g_i), pi_C the projection onto
    the dual cone C = {x : <x, g_k> >= 0 for all k}.

    Each p_i g_i = J^T (p_i e_i) is projected exactly
    (`dual_cone_projection_weights`) and the projections are summed, so
    <d, g_k> >= 0 for every k: d never conflicts with a domain.

    Scale: with the default p = 1/K, d is the mean when no gradients
    conflict, and K identical gradients g give g. Scale-equivariant. All
    gradients zero: weights p (d = 0).

    Departures from TorchJD 0.18 (`UPGradWeighting`): the projection is
    exact, without TorchJD's trace normalisation + 1e-4 ridge (which makes
    the update conflict with a domain whose norm is ~1e5 times smaller) and
    without its "sum of squared norms < 1e-4 gives the mean" cut-off.
    Elsewhere the two differ by the ridge's effect, ~1e-4 relative.

    Reference: [Jacobian Descent for Multi-Objective Optimization](
    https://arxiv.org/abs/2406.16232), Quinton & Rey, 2024.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        pref_vector: optional (K,) preference weights p. Defaults to 1/K.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "upgrad")
    p = preference_vector(pref_vector, k, "upgrad")
    projections = dual_cone_projection_weights(gram, tf.linalg.diag(p))
    return tf.cast(tf.reduce_sum(projections, axis=0), gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class UPGrad(GramWeighting):
    """UPGrad: the mean of the domain gradients, each first projected onto
    the dual cone {x : <x, g_k> >= 0 for all k}.

    d = sum_i pi(g_i / K), the projections exact (`upgrad_weights`), so
    <d, g_k> >= 0 for every k: d conflicts with no domain.

    Scale: K identical gradients g give g (the mean when nothing
    conflicts).

    Departures from TorchJD 0.18 (`UPGrad`, quadprog on G / tr G + 1e-4 I):
    the projection is exact, without the 1e-4 ridge (with which the update
    conflicts with a domain whose gradient is 1e5 times smaller than the
    others') nor the cut-off that returns the mean when the sum of squared
    norms is below 1e-4. LibMTL's `UPGrad` copies TorchJD's.

    Example:

    >>> keras_gs.surgery.get("upgrad")
    UPGrad()

    Reference: [Jacobian Descent for Multi-Objective Optimization](
    https://arxiv.org/abs/2406.16232), 2024.
    """

    name = "upgrad"

    def weights(self, gram, seed):
        return upgrad_weights(gram)
