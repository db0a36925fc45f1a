"""PCGrad, as run in the paper's official code (Yu et al., 2020)."""

import keras
import tensorflow as tf

from keras_gs.conflicts import gradient_gram
from keras_gs.surgery.base import Surgery


def projection_weights(gram, order):
    """PCGrad's result as weights on the original gradients.

    PCGrad, for each i in `order`: g_i' = g_i, then for each j != i in
    `order`, if <g_i', g_j> < 0, g_i' -= <g_i', g_j> / |g_j|^2 * g_j
    (always against the original g_j); the update is sum_i g_i'.

    Every g_i' is g_i minus a combination sum_m c_m g_m of the originals,
    so <g_i', g_j> = G[i, j] - sum_m c_m G[m, j] needs only the Gram matrix
    G of the whole-network gradients, and the update is sum_m w_m g_m with
    w_m = 1 - sum_i c^(i)_m. This never copies the gradients into one
    (K, N) matrix: the cost is one Gram matrix and one weighted sum.

    Args:
        gram: (K, K) tensor of dot products between domain gradients.
        order: (K,) int tensor, a permutation of range(K) (a tensor, so it
            can be drawn inside a compiled step).

    Returns:
        (K,) tensor of weights w.
    """
    num_domains = gram.shape[0]
    weights = tf.ones([num_domains], gram.dtype)
    for p in range(num_domains):
        i = order[p]
        coefficients = tf.zeros([num_domains], gram.dtype)
        for q in range(num_domains):
            if q == p:
                continue
            j = order[q]
            column = tf.gather(gram, j, axis=1)
            dot = tf.gather(column, i) - tf.reduce_sum(coefficients * column)
            # A zero g_j has dot 0 and is never projected against.
            coefficient = tf.where(
                dot < 0, tf.math.divide_no_nan(dot, tf.gather(column, j)), 0.0
            )
            coefficients += coefficient * tf.one_hot(
                j, num_domains, dtype=gram.dtype
            )
        weights -= coefficients
    return weights


@keras.saving.register_keras_serializable(package="keras_gs")
class PCGrad(Surgery):
    """PCGrad: project each domain gradient off those it conflicts with.

    One random order of the domains is drawn per step; dot products and
    norms are over the whole flattened network; the result is the sum of
    the projected gradients (see `projection_weights`).

    Reference: [Gradient Surgery for Multi-Task Learning](
    https://arxiv.org/abs/2001.06782), NeurIPS 2020.
    """

    name = "pcgrad"
    random = True
    jit_compile = True

    def combine(self, domain_grads, seed):
        # A uniformly random permutation from sorting uniform draws: unlike
        # StatelessShuffle it compiles with XLA (GPU's jit_compile="auto").
        order = tf.argsort(
            tf.random.stateless_uniform(
                [len(domain_grads)], seed=tf.cast(seed, tf.int64)
            )
        )
        gram = gradient_gram(domain_grads)
        weights = tf.cast(
            projection_weights(gram, order), domain_grads[0][0].dtype
        )
        return [
            tf.add_n([weights[k] * g for k, g in enumerate(grads)])
            for grads in zip(*domain_grads)
        ]
