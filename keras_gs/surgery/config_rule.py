"""ConFIG: conflict-free inverse gradients, from the Gram matrix."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.upgrad import preference_vector


@tf.autograph.experimental.do_not_convert
def config_weights(gram, pref_vector=None):
    """ConFIG's weights: the direction with equal cosines to every g_k,
    with the length of the summed projections.

    ConFIG (Liu et al., 2024, as TorchJD's `ConFIG`) takes the unit rows
    u_k = g_k / |g_k|, b = pinv(U) p (p = 1: b^T u_k = p_k, equal when
    possible), b^ = b / |b|, and d = (sum_k <g_k, b^>) b^. From the Gram
    matrix, with D = diag |g_k| and C = D^-1 G D^-1 the cosine matrix,
    b = J^T w for w = D^-1 pinv(C) p, and

        d = (1^T G w / w^T G w) J^T w.

    Scale: K identical gradients g give K g (a sum). Weights are invariant
    to the gradients' scale (d is scale-equivariant).

    Edge cases: a zero gradient is ignored (TorchJD's nan_to_num); b = 0
    (exactly opposed gradients, all-zero gradients) gives d = 0.

    Departures from TorchJD 0.18: computed from the Gram matrix instead of
    the (K, N) matrix of unit gradients (the same vector mathematically;
    AGGREGATORS.md checks it to 6e-10). The pseudo-inverse cut-off is on
    the eigenvalues of C, K 2^-23 relative to the largest
    (`gram_ops.rank_cutoff`: with float64's eps, nearly collinear gradients
    kept a 1e-13 eigenvalue that made |pinv(C)| ~ 1e13 and the update
    0); TorchJD's torch.linalg.pinv(U) cuts singular values of U at
    max(K, N) * eps, N being the number of parameters, which in float32
    discards all but the largest direction once N > ~1e6. The momentum
    variant M-ConFIG is not included (stateful, not ported by TorchJD).

    Reference: [ConFIG: Towards Conflict-free Training of Physics Informed
    Neural Networks](https://arxiv.org/abs/2408.11104), ICLR 2025.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        pref_vector: optional (K,) target projections p. Defaults to ones.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "config")
    if pref_vector is None:
        p = tf.ones([k], tf.float64)
    else:
        p = preference_vector(pref_vector, k, "config")
    g = gram_ops.float64_gram(gram)
    norms, cosines = gram_ops.norms_and_cosines(g)
    nonzero = norms > 0.0
    # Zero gradients: u_k = 0, a zero row and column of C.
    mask = tf.cast(nonzero, tf.float64)
    cosines = cosines * mask[:, None] * mask[None, :]
    inverse = tf.linalg.pinv(
        cosines, rcond=gram_ops.rank_cutoff(k, gram.dtype)
    )
    direction = tf.linalg.matvec(inverse, p)
    w = tf.math.divide_no_nan(direction * mask, norms)
    gw = tf.linalg.matvec(g, w)
    # b = 0 when pinv(C) p is only rounding (p in the null space of C:
    # exactly opposed gradients). TorchJD divides by max(|b|, 1e-12).
    vanishes = tf.norm(direction) <= 1e-13 * tf.norm(inverse) * tf.norm(p)
    factor = tf.math.divide_no_nan(tf.reduce_sum(gw), tf.reduce_sum(w * gw))
    factor = tf.where(vanishes, tf.constant(0.0, tf.float64), factor)
    return tf.cast(factor * w, gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class ConFIG(GramWeighting):
    """ConFIG: the direction with equal cosines to every domain gradient,
    with the length of the gradients' summed projections on it.

    b = pinv(U) 1 for the unit gradients U, b^ = b / |b| and
    d = (sum_k <g_k, b^>) b^, computed from the Gram matrix
    (`config_weights`).

    Scale: K identical gradients g give K g (a sum).

    Departures from TorchJD 0.18 (`ConFIG`): from the Gram matrix (the
    same vector); the pseudo-inverse cut-off is relative to the cosine
    matrix's eigenvalues, not to max(K, N) eps on the unit gradients
    (which in float32 drops all but one direction once N > ~1e6). The
    momentum variant M-ConFIG is not included.

    Example:

    >>> keras_gs.surgery.get("config")
    ConFIG()

    Reference: [ConFIG: Towards Conflict-free Training of Physics Informed
    Neural Networks](https://arxiv.org/abs/2408.11104), ICLR 2025.
    """

    name = "config"

    def weights(self, gram, seed):
        return config_weights(gram)
