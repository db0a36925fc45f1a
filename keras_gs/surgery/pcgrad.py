"""PCGrad (Yu et al., 2020): the paper's shared order, or one order per domain."""

import keras
import tensorflow as tf

from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.pcgrad_orders import per_domain_projection_weights
from keras_gs.surgery.pcgrad_orders import random_orders
from keras_gs.utils.choices import check_choice

ORDERS = ("shared", "per_domain")


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
class PCGrad(GramWeighting):
    """PCGrad: project each domain gradient off those it conflicts with.

    For each domain i, g_i' = g_i, then for each other domain j in turn,
    if <g_i', g_j> < 0, g_i' -= <g_i', g_j> / |g_j|^2 g_j (always against
    the original g_j); the update is sum_i g_i'. Dot products and norms
    are over the whole flattened network, so the rule is a weighting of
    the Gram matrix (`projection_weights`).

    The order in which i visits the others is random, drawn each step:
    - `"shared"`: one random order of the domains per step, shared by
      every i, as in the official code of the paper (Mansilla et al.,
      2021), whose numbers keras_gs reproduces;
    - `"per_domain"`: each i visits the others in its own random order,
      as Yu et al. (2020), TorchJD (`PCGrad`) and LibMTL draw it.
    For K = 2 the two are the same.

    Scale: a sum; K identical gradients g give K g. LibMTL also visits
    j = i and adds 1e-8 to |g_j|^2 (AGGREGATORS.md); neither is done here.

    Args:
        order: str, `"shared"` or `"per_domain"`. Defaults to `"shared"`.

    Example:

    >>> keras_gs.surgery.get("pcgrad", order="per_domain")
    PCGrad(order='per_domain')

    Reference: [Gradient Surgery for Multi-Task Learning](
    https://arxiv.org/abs/2001.06782), NeurIPS 2020.
    """

    name = "pcgrad"
    random = True

    def __init__(self, order="shared"):
        self.order = check_choice(order, ORDERS, "order", "PCGrad order")

    def weights(self, gram, seed):
        num_domains = gram.shape[0]
        if self.order == "per_domain":
            return per_domain_projection_weights(
                gram, random_orders(num_domains, seed)
            )
        # A uniformly random permutation from sorting uniform draws: unlike
        # StatelessShuffle it compiles with XLA (GPU's jit_compile="auto").
        order = tf.argsort(
            tf.random.stateless_uniform(
                [num_domains], seed=tf.cast(seed, tf.int64)
            )
        )
        return projection_weights(gram, order)

    def get_config(self):
        return {"order": self.order}
