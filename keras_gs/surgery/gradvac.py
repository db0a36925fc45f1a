"""GradVac: gradient vaccine, towards an adaptive cosine target."""

import tensorflow as tf

from keras_gs.surgery import gram_ops


@tf.autograph.experimental.do_not_convert
def gradvac_weights(gram, targets, orders, beta=0.5, eps=1e-8):
    """GradVac's weights and updated cosine targets (Wang et al., 2021).

    For each i, with g_i' = g_i (as a combination c_i of the originals, so
    everything follows from G), for each j in `orders[i]`:
    - phi = <g_i', g_j> / (|g_i'| |g_j| + eps s^2);
    - if phi < phi^_ij (the target): g_i' += w g_j with
      w = |g_i'| (phi^ sqrt(1 - phi^2) - phi sqrt(1 - phi^^2))
          / (|g_j| sqrt(1 - phi^^2) + eps s),
      which raises the cosine of g_i' and g_j to phi^;
    - always phi^_ij <- (1 - beta) phi^_ij + beta phi (phi measured before
      the correction).
    The update is sum_i g_i'. Targets start at 0, and then the first step
    is exactly PCGrad with the same orders.

    Scale: a sum; K identical gradients g give K g.

    Departures from TorchJD 0.18 (`GradVacWeighting`, which this follows
    step by step, including the order of the updates): `eps` is relative,
    scaled by s^2 = mean_k |g_k|^2 (s in the correction's denominator), so
    the rule is scale-equivariant; TorchJD adds eps = 1e-8 absolutely,
    which dominates once |g|^2 ~ 1e-8 (its phi is then ~0). The two agree
    when mean_k |g_k|^2 = 1. A zero g_j gets no correction (TorchJD adds an
    arbitrary multiple of the zero vector). Cosines are clipped to [-1, 1]
    against rounding. Groups of parameters (LibMTL's `group_type`) are the
    caller's business: one Gram matrix and one `targets` per group.

    Reference: [Gradient Vaccine: Investigating and Improving Multi-task
    Optimization in Massively Multilingual Models](
    https://openreview.net/forum?id=F1vEjWK-lH_), ICLR 2021.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients.
        targets: (K, K) tensor, the EMA targets phi^ (zeros initially).
        orders: (K, K - 1) int tensor; row i the order in which domain i
            visits the others (`pcgrad_orders.random_orders(K, seed)`).
        beta: float in [0, 1], the EMA rate of the targets. Defaults to 0.5.
        eps: float >= 0, relative to the gradients' scale. Defaults to 1e-8.

    Returns:
        (weights, new_targets): (K,) and (K, K), in the dtype of `gram`.
    """
    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(
            f"gradvac: `beta` must be in [0, 1]. Received: beta={beta}."
        )
    if float(eps) < 0.0:
        raise ValueError(f"gradvac: `eps` must be >= 0. Received: eps={eps}.")
    gram = tf.convert_to_tensor(gram)
    k = gram_ops.num_domains(gram, "gradvac")
    g = gram_ops.float64_gram(gram)
    orders = tf.convert_to_tensor(orders)
    if orders.shape.rank != 2 or orders.shape[0] != k:
        raise ValueError(
            f"gradvac: `orders` must be a (K, K - 1) int tensor with K={k}. "
            f"Received: shape={orders.shape}."
        )
    targets = tf.reshape(tf.cast(targets, tf.float64), [k, k])
    squared_scale = tf.reduce_mean(tf.linalg.diag_part(g))
    eps_dot = float(eps) * squared_scale
    eps_norm = float(eps) * tf.sqrt(squared_scale)
    norms = tf.sqrt(tf.linalg.diag_part(g))
    identity = tf.eye(k, dtype=tf.float64)
    weights = tf.zeros([k], tf.float64)
    # Each pair (i, j) is visited once per step: its target is read before
    # it is updated, so the new targets can be assembled at the end.
    measured = tf.zeros([k, k], tf.float64)
    visited = tf.zeros([k, k], tf.float64)
    for i in range(k):
        combination = identity[i]
        dots = g[i]  # <g_i', g_j> for every j
        for q in range(orders.shape[1]):
            j = orders[i, q]
            other = tf.not_equal(j, i)
            hot = tf.one_hot(j, k, dtype=tf.float64)
            norm_i = tf.sqrt(tf.nn.relu(tf.reduce_sum(combination * dots)))
            norm_j = tf.gather(norms, j)
            phi = tf.math.divide_no_nan(
                tf.gather(dots, j), norm_i * norm_j + eps_dot
            )
            phi = tf.clip_by_value(phi, -1.0, 1.0)
            target = tf.gather(targets[i], j)
            root_phi = tf.sqrt(tf.nn.relu(1.0 - phi * phi))
            root_target = tf.sqrt(tf.nn.relu(1.0 - target * target))
            w = tf.math.divide_no_nan(
                norm_i * (target * root_phi - phi * root_target),
                norm_j * root_target + eps_norm,
            )
            correct = (phi < target) & (norm_j > 0.0) & other
            w = tf.where(correct, w, tf.zeros_like(w))
            combination += w * hot
            dots += w * tf.gather(g, j)
            pair = identity[i][:, None] * hot[None, :]
            pair *= tf.cast(other, tf.float64)
            measured += pair * phi
            visited += pair
        weights += combination
    new_targets = tf.where(
        visited > 0.0, (1.0 - beta) * targets + beta * measured, targets
    )
    return tf.cast(weights, gram.dtype), tf.cast(new_targets, gram.dtype)
