"""Exact projection onto the dual cone of the domain gradients (UPGrad,
DualProj)."""

import tensorflow as tf

from keras_gs.surgery import gram_ops


@tf.autograph.experimental.do_not_convert
def dual_cone_projection_weights(gram, prefs):
    """Weights of the projections of J^T u onto the dual cone, exactly.

    The dual cone of g_1..g_K is C = {x : <x, g_k> >= 0 for all k}. For a
    vector x = J^T u = sum_k u_k g_k, its Euclidean projection onto C is
    J^T v, where v solves

        min_v  v^T G v   subject to   v >= u           (TorchJD's dual)

    The optimality conditions are (G v)_i >= 0 for all i, = 0 where
    v_i > u_i: so <J^T v, g_k> >= 0 for every k, the non-conflict.

    Solution. Each problem is solved exactly: for every "free" set F of the
    2^K subsets, v = u off F and G_FF v_F = -G_FA u_A; the answer is the
    candidate that best satisfies all the conditions. Some optimal v has
    linearly independent free gradients, for which G_FF is regular, so the
    candidate is exact whatever the rank of G. The systems are built on the
    cosine matrix D^-1 G D^-1 (D = diag |g_k|) and each u is scaled to unit
    max-norm, so that the systems see no gradient norm at all: norms from
    1e-3 to 1e2 lose no accuracy, and the result does not depend on the
    scale of the gradients.

    Departures from TorchJD 0.18 (`_dual_cone.py`, quadprog on
    G / tr G + 1e-4 I, and G / tr G := 0 when tr G < 1e-4): no
    regularisation, so the answer is the exact projection and never
    conflicts with a small-norm domain (TorchJD's conflicts at cosine -0.39
    when norms differ by 1e5); no small-gradient cut-off, so the rule is
    scale-equivariant.

    Edge cases: a zero gradient g_k constrains nothing; its weight is u_k
    (it multiplies a zero vector). All-zero gradients give v = u (d = 0).

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        prefs: (R, K) float tensor, one vector u per row.

    Returns:
        (R, K) float64 tensor: one v per row of `prefs`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "dual-cone projection")
    gram_ops.check_enumerable(k, "The dual-cone projection")
    g = gram_ops.float64_gram(gram)
    prefs = tf.cast(prefs, tf.float64)
    norms, cosines = gram_ops.norms_and_cosines(g)
    nonzero = norms > 0.0
    # In cosine units: v'_k = |g_k| v_k, and the same for u.
    u = prefs * norms[None, :]
    size = tf.reduce_max(tf.abs(u), axis=1, keepdims=True)
    u = tf.math.divide_no_nan(u, size)
    v = _solve(cosines, u)
    v = tf.maximum(v, u) * size
    v = tf.math.divide_no_nan(v, norms[None, :])
    return tf.where(nonzero[None, :], v, prefs)


def _solve(cosines, u):
    """min v^T C v s.t. v >= u, per row u of (R, K); C has unit diagonal."""
    k = cosines.shape[0]
    masks = gram_ops.subset_masks(k, include_empty=True)  # free sets, (P, K)
    inverses = tf.linalg.pinv(gram_ops.restricted_systems(cosines, masks))
    fixed = (1.0 - masks)[None, :, :] * u[:, None, :]  # (R, P, K)
    rhs = fixed - masks[None] * tf.matmul(fixed, cosines)
    v = tf.einsum("pij,rpj->rpi", inverses, rhs)
    cv = tf.matmul(v, cosines)
    free = masks[None] > 0
    dual = tf.where(free, tf.abs(cv), tf.nn.relu(-cv))
    violation = tf.maximum(dual, tf.nn.relu(u[:, None, :] - v))
    # Rounding in (C v)_i is about eps * sum_j |v_j| (|C_ij| <= 1).
    units = tf.reduce_sum(tf.abs(v), axis=2) + tf.reduce_sum(
        tf.abs(u), axis=1, keepdims=True
    )
    score = tf.math.divide_no_nan(tf.reduce_max(violation, axis=2), units)
    score = tf.where(
        tf.math.is_finite(score), score, tf.constant(1e300, tf.float64)
    )
    best = tf.argmin(score, axis=1)
    return tf.gather(v, best, axis=1, batch_dims=1)
