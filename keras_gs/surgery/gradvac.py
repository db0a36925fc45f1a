"""GradVac: gradient vaccine, towards an adaptive cosine target."""

import keras
import numpy as np
import tensorflow as tf

from keras_gs.surgery import gram_ops
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.pcgrad_orders import random_orders
from keras_gs.utils.choices import check_choice

GROUPS = ("network", "layer", "variable")


@tf.autograph.experimental.do_not_convert
def gradvac_weights(gram, targets, orders, beta=0.5, eps=1e-8):
    """GradVac's weights and updated cosine targets (Wang et al., 2021).

    For each i, with g_i' = g_i (as a combination c_i of the originals, so
    everything follows from G), for each j in `orders[i]`:
    - phi = <g_i', g_j> / ((1 + eps) |g_i'| |g_j|);
    - if phi < phi^_ij (the target): g_i' += w g_j with
      w = |g_i'| (phi^ sqrt(1 - phi^2) - phi sqrt(1 - phi^^2))
          / (|g_j| (sqrt(1 - phi^^2) + eps)),
      which raises the cosine of g_i' and g_j to phi^;
    - always phi^_ij <- (1 - beta) phi^_ij + beta phi (phi measured before
      the correction).
    The update is sum_i g_i'. Targets start at 0, and then the first step
    is exactly PCGrad with the same orders.

    Scale: a sum; K identical gradients g give K g.

    Departures from TorchJD 0.18 (`GradVacWeighting`, which this follows
    step by step, including the order of the updates): `eps` is relative
    to each pair's own norms (|g_i'| |g_j| in phi, |g_j| in the
    correction), so the rule is scale-equivariant and a pair of small
    gradients among large ones gets its cosine exactly (a guard relative to
    the mean squared norm shrank the cosine of two gradients 1e5 times
    smaller than the others tenfold); TorchJD adds eps = 1e-8 absolutely,
    which dominates once |g|^2 ~ 1e-8 (its phi is then ~0). The two agree
    to ~1e-8 when the gradients' norms are ~1. A zero g_j gets no
    correction (TorchJD adds an arbitrary multiple of the zero vector).
    Cosines are clipped to [-1, 1] against rounding. Groups of parameters
    (LibMTL's `group_type`) are the caller's business: one Gram matrix and
    one `targets` per group.

    Reference: [Gradient Vaccine: Investigating and Improving Multi-task
    Optimization in Massively Multilingual Models](
    https://openreview.net/forum?id=F1vEjWK-lH_), ICLR 2021.

    Args:
        gram: (K, K) float tensor of dot products of the domain gradients,
            or (B, K, K): one Gram matrix per parameter group, each with
            its own targets, all visited in the same orders (LibMTL's
            groups).
        targets: (K, K) (or (B, K, K)) tensor, the EMA targets phi^ (zeros
            initially).
        orders: (K, K - 1) int tensor; row i the order in which domain i
            visits the others (`pcgrad_orders.random_orders(K, seed)`).
        beta: float in [0, 1], the EMA rate of the targets. Defaults to 0.5.
        eps: float >= 0, relative to each pair's norms. Defaults to 1e-8.

    Returns:
        (weights, new_targets): (K,) and (K, K) (or (B, K) and (B, K, K)),
        in the dtype of `gram`.
    """
    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(
            f"gradvac: `beta` must be in [0, 1]. Received: beta={beta}."
        )
    if float(eps) < 0.0:
        raise ValueError(f"gradvac: `eps` must be >= 0. Received: eps={eps}.")
    gram = tf.convert_to_tensor(gram)
    batched = gram.shape.rank == 3
    if not batched:
        gram = gram[None]
    k = gram_ops.num_domains(gram[0], "gradvac")
    g = gram_ops.float64_gram(gram)
    orders = gram_ops.check_orders(orders, k, "gradvac")
    targets = tf.reshape(tf.cast(targets, tf.float64), tf.shape(g))
    # The groups (leading axis) go through the same orders side by side.
    norms = tf.sqrt(tf.linalg.diag_part(g))
    identity = tf.eye(k, dtype=tf.float64)
    weights = tf.zeros(tf.shape(norms), tf.float64)
    # Each pair (i, j) is visited once per step: its target is read before
    # it is updated, so the new targets can be assembled at the end.
    measured = tf.zeros(tf.shape(g), tf.float64)
    visited = tf.zeros([k, k], tf.float64)
    for i in range(k):
        combination = identity[i] + tf.zeros_like(norms)
        dots = g[:, i]  # <g_i', g_j> for every j
        for q in range(orders.shape[1]):
            j = orders[i, q]
            other = tf.not_equal(j, i)
            hot = tf.one_hot(j, k, dtype=tf.float64)
            norm_i = tf.sqrt(tf.nn.relu(tf.reduce_sum(combination * dots, -1)))
            norm_j = tf.gather(norms, j, axis=1)
            phi = tf.math.divide_no_nan(
                tf.gather(dots, j, axis=1), (1.0 + eps) * norm_i * norm_j
            )
            phi = tf.clip_by_value(phi, -1.0, 1.0)
            target = tf.gather(targets[:, i], j, axis=1)
            root_phi = tf.sqrt(tf.nn.relu(1.0 - phi * phi))
            root_target = tf.sqrt(tf.nn.relu(1.0 - target * target))
            w = tf.math.divide_no_nan(
                norm_i * (target * root_phi - phi * root_target),
                norm_j * (root_target + eps),
            )
            correct = (phi < target) & (norm_j > 0.0) & other
            w = tf.where(correct, w, tf.zeros_like(w))
            combination += w[:, None] * hot
            dots += w[:, None] * tf.gather(g, j, axis=1)
            pair = identity[i][:, None] * hot[None, :]
            pair *= tf.cast(other, tf.float64)
            measured += pair * phi[:, None, None]
            visited += pair
        weights += combination
    new_targets = tf.where(
        visited > 0.0, (1.0 - beta) * targets + beta * measured, targets
    )
    if not batched:
        weights, new_targets = weights[0], new_targets[0]
    return tf.cast(weights, gram.dtype), tf.cast(new_targets, gram.dtype)


@keras.saving.register_keras_serializable(package="keras_gs")
class GradVac(GramWeighting):
    """GradVac: raise each pair's cosine towards an adaptive target.

    For each domain i and each other domain j in a random order, if the
    cosine phi of g_i' (g_i as corrected so far) and g_j is below the
    target phi^_ij, g_i' gets the multiple of g_j that lifts the cosine to
    phi^_ij; every target then moves towards the measured cosine,
    phi^ <- (1 - beta) phi^ + beta phi. The update is sum_i g_i'
    (`gradvac_weights`). The targets start at 0 (the first step is PCGrad
    with per-domain orders) and are the rule's state: kept by
    `GradSurgeryModel` in a non-trainable variable, saved with the model.

    Scale: a sum; K identical gradients g give K g.

    `group` chooses the parameter groups, each with its own cosines and
    targets (LibMTL's `group_type`; TorchJD 0.18 weighs the whole
    network): `"network"` (0), `"layer"` (1: each of the network's
    top-level layers with trainable variables) or `"variable"` (2: each
    variable tensor). Every group goes through the same random orders.

    Departures from TorchJD 0.18 (`GradVac`): `eps` is relative to each
    pair's norms, so the rule does not depend on the gradients' scale (see
    `gradvac_weights`).

    Args:
        beta: float in [0, 1], the EMA rate of the targets. Defaults to
            `0.5`.
        eps: float >= 0, a relative guard of the divisions. Defaults to
            `1e-8`.
        group: str, `"network"`, `"layer"` or `"variable"`. Defaults to
            `"network"`.

    Example:

    >>> keras_gs.surgery.get("gradvac", group="layer")
    GradVac(beta=0.5, eps=1e-08, group='layer')

    Reference: [Gradient Vaccine: Investigating and Improving Multi-task
    Optimization in Massively Multilingual Models](
    https://openreview.net/forum?id=F1vEjWK-lH_), ICLR 2021.
    """

    name = "gradvac"
    random = True

    def __init__(self, beta=0.5, eps=1e-8, group="network"):
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(
                f"gradvac: `beta` must be in [0, 1]. Received: beta={beta}"
            )
        if not float(eps) >= 0.0:
            raise ValueError(f"gradvac: `eps` must be >= 0. Received: eps={eps}")
        self.beta = float(beta)
        self.eps = float(eps)
        self.group = check_choice(group, GROUPS, "group", "GradVac group")

    def parameter_groups(self, num_variables, layers=None):
        if self.group == "variable":
            return [(v,) for v in range(num_variables)]
        if self.group == "layer":
            if layers is None:
                raise ValueError(
                    "gradvac: group='layer' needs the network's layers; it "
                    "works inside GradSurgeryModel, not on bare gradient "
                    "lists. Received: group='layer'."
                )
            return [tuple(layer.indices) for layer in layers]
        return None

    def initial_state(self, num_domains, num_groups=1):
        shape = (num_groups, num_domains, num_domains)
        return {"targets": np.zeros(shape, "float32")}

    def group_weights(self, grams, seed, state):
        orders = random_orders(grams.shape[-1], seed)
        weights, targets = gradvac_weights(
            grams, state["targets"], orders, self.beta, self.eps
        )
        return weights, {"targets": targets}

    def get_config(self):
        return {"beta": self.beta, "eps": self.eps, "group": self.group}
