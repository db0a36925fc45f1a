"""IMTL-G: the update with equal projections on every domain's direction."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting


@tf.autograph.experimental.do_not_convert
def imtl_g_weights(gram):
    """IMTL-G's weights: v = pinv(G) sqrt(diag G), w = v / sum(v).

    When G is invertible, d = J^T w has equal projections on every unit
    gradient u_k = g_k / |g_k|: <d, u_k> = 1 / sum(v) for all k, with the
    weights summing to 1 (Liu et al., 2021, as TorchJD's `IMTLG`).

    Scale: weights sum to 1; K identical gradients g give g. Weights are
    invariant to the gradients' scale (d is scale-equivariant).

    Edge cases: a zero gradient gets weight 0 (pinv maps onto the range of
    G), so the answer is finite (LibMTL's closed form divides by zero and
    returns NaN). When sum(v) vanishes (exactly opposed gradients: v = 0),
    the weights are 0, as TorchJD's.

    Departures from TorchJD 0.18: G is first divided by its trace and the
    "sum(v) = 0" test is |sum v| <= 1e-12 max(1, sum |v|) on that scale,
    so the answer does not depend on the gradients' scale (TorchJD's
    absolute 1e-12 on the raw G zeroes the update of large gradients). The
    pseudo-inverse cut-off is TorchJD's, K times the machine epsilon of the
    Gram matrix's dtype, relative to the largest eigenvalue.

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
    g = tf.math.divide_no_nan(g, tf.linalg.trace(g))
    diagonal = tf.sqrt(tf.linalg.diag_part(g))
    rcond = k * gram_ops.relative_eps(gram.dtype)
    v = tf.linalg.matvec(tf.linalg.pinv(g, rcond=rcond), diagonal)
    total = tf.reduce_sum(v)
    vanishes = tf.abs(total) <= 1e-12 * tf.maximum(
        tf.constant(1.0, tf.float64), tf.reduce_sum(tf.abs(v))
    )
    total = tf.where(vanishes, tf.ones_like(total), total)
    weights = tf.where(vanishes, tf.zeros_like(v), v / total)
    return tf.cast(weights, gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class IMTLG(GramWeighting):
    """IMTL-G: the update whose projections on every domain's unit
    gradient are equal.

    w = pinv(G) sqrt(diag G) / sum(...), d = sum_k w_k g_k
    (`imtl_g_weights`): <d, g_k / |g_k|> is the same for every k when G is
    invertible.

    Scale: weights sum to 1; K identical gradients g give g.

    Departures from TorchJD 0.18 (`IMTLG`): the "sum of weights = 0" test
    (exactly opposed gradients: d = 0) is relative to the gradients'
    scale. LibMTL's `IMTL` is IMTL-L + IMTL-G: it also learns loss scales,
    and returns NaN with a zero gradient; only IMTL-G is here.

    Example:

    >>> keras_gs.surgery.get("imtl-g")
    IMTLG()

    Reference: [Towards Impartial Multi-task Learning](
    https://openreview.net/forum?id=IMPnRXEWpvr), ICLR 2021.
    """

    name = "imtl-g"

    def weights(self, gram, seed):
        return imtl_g_weights(gram)
