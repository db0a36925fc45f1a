"""PCGrad with one random order of the other domains per domain."""

import tensorflow as tf

from keras_gs.surgery import gram_ops


@tf.autograph.experimental.do_not_convert
def random_orders(num_domains: int, seed):
    """(K, K - 1) int32: row i a uniformly random order of the j != i.

    Drawn statelessly from `seed` (a shape-(2,) integer tensor), so every
    replica draws the same orders. Sorting uniform draws, with the
    diagonal pushed last, compiles with XLA.
    """
    draws = tf.random.stateless_uniform(
        [num_domains, num_domains], seed=tf.cast(seed, tf.int64)
    )
    draws = tf.linalg.set_diag(draws, tf.fill([num_domains], 2.0))
    return tf.argsort(draws, axis=1)[:, : num_domains - 1]


@tf.autograph.experimental.do_not_convert
def per_domain_projection_weights(gram, orders):
    """PCGrad as Yu et al. (2020), TorchJD and LibMTL draw it: each domain
    i visits the others in its own order, as weights on the gradients.

    For each i: g_i' = g_i; for each j in `orders[i]` (j != i), if
    <g_i', g_j> < 0 then g_i' -= <g_i', g_j> / |g_j|^2 g_j, always against
    the original g_j. The update is sum_i g_i'. Every g_i' is a
    combination c_i of the original gradients, so <g_i', g_j> = (c_i G)_j
    and the update's weights are sum_i c_i: only the Gram matrix is needed
    (TorchJD's `PCGradWeighting`).

    `keras_gs.surgery.pcgrad.projection_weights` is the paper's official
    code instead: one order shared by every i. For K = 2 the two agree.

    Scale: a sum; K identical gradients g give K g. Scale-equivariant.
    Edge cases: a zero g_j is never projected against (<g_i', 0> = 0),
    exactly opposed g, -g both vanish (d = 0).

    Departures: none from TorchJD. LibMTL also visits j = i and adds 1e-8
    to |g_j|^2 (not scale-invariant); neither is done here. An entry
    j == i in `orders` is skipped, so (K, K) permutations work too.

    Reference: [Gradient Surgery for Multi-Task Learning](
    https://arxiv.org/abs/2001.06782), NeurIPS 2020.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        orders: (K, K - 1) (or (K, K)) int tensor; row i is the order in
            which domain i visits the others, e.g. `random_orders(K, seed)`.

    Returns:
        (K,) weights, in the dtype of `gram`.
    """
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "pcgrad")
    g = gram_ops.float64_gram(gram)
    orders = gram_ops.check_orders(orders, k, "pcgrad")
    identity = tf.eye(k, dtype=tf.float64)
    weights = tf.zeros([k], tf.float64)
    for i in range(k):
        combination = identity[i]
        for q in range(orders.shape[1]):
            j = orders[i, q]
            column = tf.gather(g, j, axis=1)
            dot = tf.reduce_sum(combination * column)
            coefficient = tf.math.divide_no_nan(dot, tf.gather(column, j))
            project = (dot < 0.0) & tf.not_equal(j, i)
            combination -= tf.where(project, coefficient, 0.0) * tf.one_hot(
                j, k, dtype=tf.float64
            )
        weights += combination
    return tf.cast(weights, gram.dtype)
