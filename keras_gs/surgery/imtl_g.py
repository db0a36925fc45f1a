"""IMTL-G: the update with equal projections on every domain's direction."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting


@tf.autograph.experimental.do_not_convert
def imtl_g_weights(gram):
    """IMTL-G's weights: w = D^-1 pinv(C) 1, normalised to sum 1.

    IMTL-G (Liu et al., 2021) asks for the update d = J^T w with equal
    projections on every unit gradient u_k = g_k / |g_k|: <d, u_k> = c for
    all k, with the weights summing to 1. With D = diag |g_k| and
    C = D^-1 G D^-1 the cosine matrix, <d, u_k> = (C D w)_k, so
    w = D^-1 pinv(C) 1 / sum(...): the same vector as TorchJD's
    pinv(G) sqrt(diag G) when G is invertible, but solved on C, whose
    entries are at most 1 whatever the gradients' norms. (On G itself a
    gradient 1e5 times smaller than another has an eigenvalue 1e-10 of the
    largest: under a float32 pseudo-inverse cut-off it was dropped, and the
    projections came out 5.26, 2.50, 2.50, 2.50 for norms 3.3e-3..287.)

    Scale: weights sum to 1; K identical gradients g give g. Weights are
    invariant to the gradients' scale (d is scale-equivariant).

    Edge cases: a zero gradient has no direction: its weight is 0 and it
    is left out of C (LibMTL's closed form divides by zero and returns
    NaN). When no d with equal projections has weights summing to a
    nonzero total (exactly opposed gradients: pinv(C) 1 = 0, or
    sum(w) = 0), the weights are 0, as TorchJD's. Eigenvalues of C below
    `gram_ops.rank_cutoff` (K 2^-23 of the largest) count as 0: nearly
    collinear gradients are treated as collinear. When no d has equal
    projections (more domains than dimensions, 1 outside the range of C),
    the definition cannot be met: w is then the least-squares solution on
    C (TorchJD's is on G; neither has equal projections).

    Departures from TorchJD 0.18: solved on the cosine matrix (above), and
    the "sum(v) = 0" test is relative, so the answer does not depend on the
    gradients' scale (TorchJD's absolute 1e-12 on the raw G zeroes the
    update of large gradients).

    Reference: [Towards Impartial Multi-task Learning](
    https://openreview.net/forum?id=IMPnRXEWpvr), ICLR 2021.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "imtl-g")
    g = gram_ops.float64_gram(gram)
    norms, cosines = gram_ops.norms_and_cosines(g)
    live = tf.cast(norms > 0.0, tf.float64)
    cosines = cosines * live[:, None] * live[None, :]
    inverse = tf.linalg.pinv(
        cosines, rcond=gram_ops.rank_cutoff(k, gram.dtype)
    )
    # The target projection 1 on every nonzero gradient's direction.
    target = live
    direction = tf.linalg.matvec(inverse, target)
    v = tf.math.divide_no_nan(direction * live, norms)
    total = tf.reduce_sum(v)
    # Exactly opposed gradients: pinv(C) 1 is rounding only, or the
    # weights cancel; both relative, so no scale of the gradients decides.
    vanishes = tf.norm(direction) <= 1e-13 * tf.norm(inverse) * tf.norm(target)
    vanishes |= tf.abs(total) <= 1e-12 * tf.reduce_sum(tf.abs(v))
    total = tf.where(vanishes, tf.ones_like(total), total)
    weights = tf.where(vanishes, tf.zeros_like(v), v / total)
    return tf.cast(weights, gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class IMTLG(GramWeighting):
    """IMTL-G: the update whose projections on every domain's unit
    gradient are equal.

    w = D^-1 pinv(C) 1 / sum(...) (C the cosine matrix, D the norms),
    d = sum_k w_k g_k (`imtl_g_weights`): <d, g_k / |g_k|> is the same for
    every k whenever such a d exists, at any ratio of the gradients' norms.

    Scale: weights sum to 1; K identical gradients g give g.

    Departures from TorchJD 0.18 (`IMTLG`): solved on the cosine matrix,
    so a gradient 1e5 times smaller than another keeps its equal
    projection; the "sum of weights = 0" test (exactly opposed gradients:
    d = 0) is relative to the gradients' scale. LibMTL's `IMTL` is
    IMTL-L + IMTL-G: it also learns loss scales, and returns NaN with a
    zero gradient; only IMTL-G is here.

    Example:

    >>> keras_gs.surgery.get("imtl-g")
    IMTLG()

    Reference: [Towards Impartial Multi-task Learning](
    https://openreview.net/forum?id=IMPnRXEWpvr), ICLR 2021.
    """

    name = "imtl-g"

    def weights(self, gram, seed):
        return imtl_g_weights(gram)
