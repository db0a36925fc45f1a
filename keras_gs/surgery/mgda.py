"""MGDA: the min-norm point of the convex hull of the domain gradients."""

import keras
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting


@tf.autograph.experimental.do_not_convert
def mgda_weights(gram):
    """MGDA's weights: w = argmin_{w in simplex} w^T G w, solved exactly.

    The update d = sum_k w_k g_k is the point of least norm in the convex
    hull of g_1..g_K. It satisfies <d, g_k> >= |d|^2 >= 0 for every k (the
    optimality condition), so it never conflicts with a domain; d = 0 when
    0 is in the hull (a zero gradient, two exactly opposed gradients).

    Solution. At the optimum, with S the support of w, (G w)_i = nu for i
    in S and (G w)_j >= nu = w^T G w for every j. For every support S of
    the 2^K - 1 possible ones, the bordered system
    [[G_SS, -1], [1^T, 0]] (w_S, nu) = (0, 1) is solved (one batch of
    pseudo-inverses); the answer is the candidate that best satisfies all
    the conditions (w >= 0, sum w = 1, G w >= nu, equality on S), scored
    relative to the rounding of each product. The systems are equilibrated
    (`gram_ops.simplex_kkt_systems`), so norms from 1e-3 to 1e2 lose no
    accuracy. Some optimal w always has
    affinely independent g_S, for which the system is regular, so the
    candidate is exact: singular Gram matrices, duplicated or collinear
    gradients and K > rank need no special case. Cost: 2^K solves of size
    K + 1 (K <= 12).

    Scale: convex weights (sum 1); K identical gradients g give g. The
    weights are invariant to scaling all gradients, so d is
    scale-equivariant. A zero gradient makes d = 0 (its weight is 1, shared
    equally between zero gradients; all zero: 1/K).

    Departure from TorchJD 0.18 (`MGDAWeighting`, Frank-Wolfe stopped at
    step 1e-3 or 100 iterations) and LibMTL (Sener et al.'s solver, whose
    two-point step clamps gamma to [0.001, 0.999]): both are approximate,
    TorchJD's up to 86 % off for K >= 5 (AGGREGATORS.md); this is exact.
    LibMTL's `mgda_gn` gradient normalizations are not offered.

    Reference: [Multi-Task Learning as Multi-Objective Optimization](
    https://arxiv.org/abs/1810.04650), NeurIPS 2018; Désidéri, 2012.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "mgda")
    gram_ops.check_enumerable(k, "mgda")
    g = gram_ops.float64_gram(gram)
    g = tf.math.divide_no_nan(g, tf.reduce_max(tf.linalg.diag_part(g)))
    norms, cosines = gram_ops.norms_and_cosines(g)
    # A zero gradient is a point of the hull at 0: d = 0, with its weight
    # shared between the zero gradients (all of them if all are zero).
    zero = tf.cast(tf.equal(norms, 0.0), tf.float64)
    weights = tf.cond(
        tf.reduce_any(zero > 0.0),
        lambda: zero / tf.reduce_sum(zero),
        lambda: min_norm_weights(g, norms, cosines),
    )
    return tf.cast(weights, gram.dtype)


def min_norm_weights(g, norms, cosines):
    """Exact argmin over the simplex of w^T g w, for a float64 Gram matrix
    of nonzero gradients, largest diagonal entry 1. See `mgda_weights`."""
    k = g.shape[0]
    masks = gram_ops.subset_masks(k)
    systems, top, _ = gram_ops.simplex_kkt_systems(cosines, norms, masks)
    # The last column of the pseudo-inverse solves for (0, 1 / top).
    solution = tf.linalg.pinv(systems)[:, :k, k] / top[:, None]
    w = solution / norms[None, :] * masks
    gw = tf.matmul(w, g)
    value = tf.reduce_sum(w * gw, axis=1, keepdims=True)
    # Rounding in (G w)_j is about eps |g_j| W and in w^T G w eps W^2, with
    # W = sum_i |w_i| |g_i|: measure each violation in those units, so tiny
    # and huge gradients count alike.
    spread = tf.reduce_sum(tf.abs(w) * norms, axis=1, keepdims=True)
    units = (norms[None, :] + spread) * spread
    dual = tf.where(masks > 0, tf.abs(gw - value), tf.nn.relu(value - gw))
    primal = tf.maximum(
        tf.reduce_max(tf.nn.relu(-w), axis=1),
        tf.abs(tf.reduce_sum(w, axis=1) - 1.0),
    )
    score = tf.maximum(
        tf.reduce_max(tf.math.divide_no_nan(dual, units), axis=1), primal
    )
    score = tf.where(
        tf.math.is_finite(score), score, tf.constant(1e300, tf.float64)
    )
    best = tf.nn.relu(tf.gather(w, tf.argmin(score)))
    return best / tf.reduce_sum(best)


@keras.saving.register_keras_serializable(package="keras_gs")
class MGDA(GramWeighting):
    """MGDA: the point of least norm in the convex hull of the gradients.

    d = sum_k w_k g_k with w = argmin over the simplex of w^T G w, solved
    exactly (`mgda_weights`): <d, g_k> >= |d|^2 for every k, so d never
    conflicts with a domain, and d = 0 when 0 is in the hull (one zero
    gradient, two exactly opposed ones).

    Scale: convex weights; K identical gradients g give g.

    Departure from TorchJD 0.18 (`MGDA`: Frank-Wolfe, stopped at a step of
    1e-3 or after 100 iterations, up to 86 % off the min-norm point for
    K >= 5): exact. LibMTL's `MGDA` (Sener et al.'s solver) is approximate
    too and offers gradient normalizations (`mgda_gn`), not offered here.

    Example:

    >>> keras_gs.surgery.get("mgda")
    MGDA()

    Reference: [Multi-Task Learning as Multi-Objective Optimization](
    https://arxiv.org/abs/1810.04650), NeurIPS 2018.
    """

    name = "mgda"

    def weights(self, gram, seed):
        return mgda_weights(gram)
