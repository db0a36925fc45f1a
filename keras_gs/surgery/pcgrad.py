"""PCGrad, as run in the paper's official code (Yu et al., 2020)."""

import tensorflow as tf

from keras_gs.surgery.base import Surgery
from keras_gs.surgery.base import register


def flatten_domains(domain_grads):
    """Stacks each domain's gradients into one row: a (K, N) matrix."""
    return tf.stack(
        [
            tf.concat([tf.reshape(g, [-1]) for g in grads], 0)
            for grads in domain_grads
        ]
    )


def unflatten(flat, like):
    """Splits a length-N vector back into tensors shaped like `like`."""
    sizes = [int(t.shape.num_elements()) for t in like]
    parts = tf.split(flat, sizes)
    return [tf.reshape(p, tf.shape(t)) for p, t in zip(parts, like)]


def project_conflicts(flat_grads, order):
    """PCGrad's projection over whole-network gradients in a given order.

    For each i in `order`: g_i' = g_i, then for each j != i in `order`, if
    <g_i', g_j> < 0, g_i' -= <g_i', g_j> / |g_j|^2 * g_j, always against the
    original g_j. Returns sum_i g_i'. `order` is a permutation of range(K)
    (a tensor, so that it can be drawn inside a compiled step).
    """
    num_domains = flat_grads.shape[0]
    update = tf.zeros_like(flat_grads[0])
    for p in range(num_domains):
        projected = tf.gather(flat_grads, order[p])
        for q in range(num_domains):
            if q == p:
                continue
            other = tf.gather(flat_grads, order[q])
            dot = tf.reduce_sum(projected * other)
            norm_sq = tf.reduce_sum(other * other)
            # A zero g_j has dot 0 and is never projected against.
            coefficient = tf.where(
                dot < 0, tf.math.divide_no_nan(dot, norm_sq), 0.0
            )
            projected = projected - coefficient * other
        update = update + projected
    return update


@register("pcgrad")
class PCGrad(Surgery):
    """PCGrad: project each domain gradient off those it conflicts with.

    One random order of the domains is drawn per step; dot products and
    norms are over the whole flattened network; the result is the sum of
    the projected gradients (see `project_conflicts`).

    Reference: [Gradient Surgery for Multi-Task Learning](
    https://arxiv.org/abs/2001.06782), NeurIPS 2020.
    """

    random = True

    def combine(self, domain_grads, seed):
        flat = flatten_domains(domain_grads)
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(domain_grads)), seed=tf.cast(seed, tf.int64)
        )
        return unflatten(project_conflicts(flat, order), domain_grads[0])
