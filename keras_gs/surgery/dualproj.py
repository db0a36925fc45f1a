"""DualProj: the mean of the domain gradients projected onto the dual
cone."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.dual_cone import dual_cone_projection_weights
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.upgrad import preference_vector


@tf.autograph.experimental.do_not_convert
def dualproj_weights(gram, pref_vector=None):
    """DualProj's weights: d = pi_C(sum_k p_k g_k), the projection of the
    (weighted) mean onto the dual cone C = {x : <x, g_k> >= 0 for all k}.

    The projection is exact (`dual_cone_projection_weights`), so
    <d, g_k> >= 0 for every k, and d is the closest such vector to the
    mean.

    Scale: with the default p = 1/K, K identical gradients g give g; the
    mean itself when no domain conflicts with it. Scale-equivariant. All
    gradients zero: weights p (d = 0).

    Departures from TorchJD 0.18 (`DualProjWeighting`): as `upgrad_weights`
    (exact projection; no 1e-4 ridge relative to tr G; no small-gradient
    cut-off).

    Reference: [Jacobian Descent for Multi-Objective Optimization](
    https://arxiv.org/abs/2406.16232), Quinton & Rey, 2024.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        pref_vector: optional (K,) preference weights p. Defaults to 1/K.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "dualproj")
    p = preference_vector(pref_vector, k, "dualproj")
    projection = dual_cone_projection_weights(gram, p[None, :])
    return tf.cast(projection[0], gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class DualProj(GramWeighting):
    """DualProj: the mean gradient projected onto the dual cone
    {x : <x, g_k> >= 0 for all k}.

    d = pi(sum_k g_k / K), the closest vector to the mean that conflicts
    with no domain (`dualproj_weights`, exact).

    Scale: K identical gradients g give g (the mean when nothing conflicts
    with it).

    Departures from TorchJD 0.18 (`DualProj`): as `UPGrad`'s (exact
    projection, no 1e-4 ridge, no small-gradient cut-off).

    Example:

    >>> keras_gs.surgery.get("dualproj")
    DualProj()

    Reference: [Jacobian Descent for Multi-Objective Optimization](
    https://arxiv.org/abs/2406.16232), 2024.
    """

    name = "dualproj"

    def weights(self, gram, seed):
        return dualproj_weights(gram)
