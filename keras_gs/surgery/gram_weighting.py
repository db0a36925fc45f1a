"""`GramWeighting`: the family of rules that weigh the K x K Gram matrix.

The update of such a rule is d = sum_k w_k g_k, where the weights w depend
on the domain gradients only through their dot products G_ij = <g_i, g_j>
(TorchJD's `GramianWeightedAggregator`). G is summed variable by variable
(`keras_gs.conflicts.gradient_gram`), never from a stacked (K, N) copy of
the gradients; the K-dimensional problem that gives w is solved in
TensorFlow ops inside the training step; and `GradSurgeryModel` computes
G once per step and hands the same matrix to the rule and to its `cosine`
metric.
"""

import numpy as np
import tensorflow as tf

from keras_gs.conflicts import gradient_gram
from keras_gs.surgery.base import Surgery
from keras_gs.surgery.running_sums import RunningSums


class GramWeighting(Surgery):
    """A rule whose update is a weighting of the domain gradients' Gram
    matrix: d = sum_k w_k g_k with w = `weights(G, seed)`.

    Subclasses override `weights(gram, seed)`: `gram` is the (K, K) float
    tensor of dot products of the whole-network gradients; the result is
    the (K,) weights, in `gram`'s dtype. K is static. The function runs
    inside the compiled training step: TensorFlow ops only, the same on
    every replica (the Gram matrix of the global gradients is).

    A rule with state (see `Surgery`) overrides `initial_state` and
    `group_weights` instead, which receives the state and returns the new
    one. A rule that weighs parameter groups separately (GradVac per
    layer) overrides `parameter_groups`.
    """

    jit_compile = True

    def weights(self, gram, seed):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `weights`."
        )

    def parameter_groups(self, num_variables, layers=None):
        """The groups of variables that get their own Gram matrix and
        weights, or None for one group: the whole network (the default).

        Args:
            num_variables: int, the number of trainable variables.
            layers: list of `keras_gs.conflicts.layer_groups.LayerGroup`,
                the network's layers, or None when not known (a direct
                call on gradient lists).

        Returns:
            None, or a list of tuples of variable indices that covers
            every variable once.
        """
        del num_variables, layers
        return None

    def group_weights(self, grams, seed, state):
        """`(weights, new_state)` from the (B, K, K) Gram matrices of the
        B parameter groups: (B, K) weights, and the state (a dict of
        tensors) for the next step."""
        if grams.shape[0] != 1:
            raise ValueError(
                f"{type(self).__name__} weighs the whole network: it takes "
                f"one Gram matrix. Received: {grams.shape[0]} groups."
            )
        return self.weights(grams[0], seed)[None, :], state

    def step(self, domain_grads, seed, state=None):
        groups = self.parameter_groups(len(domain_grads[0]))
        if state is None:
            state = self.initial_state(
                len(domain_grads), 1 if groups is None else len(groups)
            )
            state = {k: tf.constant(v) for k, v in state.items()}
        weights, state = self.group_weights(
            group_grams(domain_grads, groups), seed, state
        )
        return weighted_sum(domain_grads, weights, groups), state


class FixedWeighting(GramWeighting):
    """A Gram weighting whose weights depend on K only (sum, mean).

    The update needs no Gram matrix and streams: it is computed from the
    running sum of the gradients (`from_sums`), folded in domain by domain.
    Subclasses override `fixed_weights(num_domains)` and `from_sums`.
    """

    streams = True

    def fixed_weights(self, num_domains):
        raise NotImplementedError

    def weights(self, gram, seed):
        num_domains = gram.shape[0]
        return tf.constant(self.fixed_weights(num_domains), gram.dtype)

    def step(self, domain_grads, seed, state=None):
        return self.combine(domain_grads, seed), {}

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads, with_signs=False))


def group_grams(domain_grads, groups):
    """The (B, K, K) Gram matrices of the parameter groups (B = 1 and the
    whole network when `groups` is None)."""
    if groups is None:
        return gradient_gram(domain_grads)[None]
    return tf.stack(
        [
            gradient_gram([[grads[i] for i in group] for grads in domain_grads])
            for group in groups
        ]
    )


def weighted_sum(domain_grads, weights, groups=None):
    """Per variable v, sum_k w_{b(v), k} g_k[v], b(v) the group of v.

    Args:
        domain_grads: K lists of per-variable gradients.
        weights: (B, K) tensor.
        groups: the list of B tuples of variable indices, or None (B = 1).
    """
    group_of = np.zeros(len(domain_grads[0]), int)
    for b, group in enumerate(groups or ()):
        group_of[list(group)] = b
    update = []
    for v, variable_grads in enumerate(zip(*domain_grads)):
        w = tf.cast(weights[group_of[v]], variable_grads[0].dtype)
        update.append(
            tf.add_n([w[k] * g for k, g in enumerate(variable_grads)])
        )
    return update
