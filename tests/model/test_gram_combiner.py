"""The step's combiner with a Gram weighting, on hand-worked gradients:
one Gram matrix per step shared by the rule and the cosine, per-group
weights, and the rule's state (kept on applied steps only)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from keras_gs.conflicts import measures
from keras_gs.model import combiner as combiner_lib
from keras_gs.model.surgery_state import SurgeryState
from keras_gs.surgery import gram_weighting

STEP = tf.constant(0, tf.int64)
SEED = tf.constant([3, 0], tf.int64)


def network(layers=1):
    keras.utils.set_random_seed(0)
    stack = [keras.Input((2,))]
    stack += [keras.layers.Dense(2) for _ in range(layers - 1)]
    return keras.Sequential(stack + [keras.layers.Dense(1)])


def make(surgery, num_domains, net=None):
    net = net or network()
    state = SurgeryState(
        surgery, num_domains, net, tf.distribute.get_strategy()
    )
    combiner = combiner_lib.make_combiner(
        surgery,
        list,
        streaming=False,
        measure_conflicts=True,
        conflict_every=1,
        jit_compile=False,
        surgery_state=state,
    )
    return combiner, state


def finish(combiner, domain_grads):
    tensors = [[tf.constant(g, tf.float32) for g in d] for d in domain_grads]
    result = combiner.finish(tensors, [], SEED, STEP)
    return [u.numpy() for u in result.update], result


# Whole-network vectors g1 = (1, 0 | 0), g2 = (-1, 1 | 0), g3 = (0, -1 | 0)
# (kernel (2, 1) | bias (1,)). Cosines: c12 = -1/sqrt 2, c13 = 0,
# c23 = -1/sqrt 2, mean -sqrt(2)/3. The origin is their centroid, so MGDA
# (the min-norm point of the hull) is 0 with weights 1/3.
TRIANGLE = [
    [[[1.0], [0.0]], [0.0]],
    [[[-1.0], [1.0]], [0.0]],
    [[[0.0], [-1.0]], [0.0]],
]


def test_one_gram_matrix_per_step_for_the_rule_and_the_cosine(monkeypatch):
    calls = []
    gradient_gram = measures.gradient_gram

    def counted(domain_grads):
        calls.append(len(domain_grads))
        return gradient_gram(domain_grads)

    monkeypatch.setattr(gram_weighting, "gradient_gram", counted)
    monkeypatch.setattr(measures, "gradient_gram", counted)
    combiner, _ = make(keras_gs.surgery.get("mgda"), 3)
    update, result = finish(combiner, TRIANGLE)
    assert calls == [3]
    agreement, cosine = result.measures
    np.testing.assert_allclose(cosine.numpy(), -math.sqrt(2) / 3, rtol=1e-6)
    for u in update:
        np.testing.assert_allclose(u, np.zeros_like(u), atol=1e-6)
    assert bool(result.finite)


def test_the_combined_update_is_the_rules_own():
    # The step's path (Gram matrix with the reductions, weights, fused
    # weighted sum) gives what the rule gives called on the gradients.
    grads = [
        [[[1.0], [2.0]], [0.5]],
        [[[-2.0], [1.0]], [-1.0]],
        [[[0.5], [-1.0]], [2.0]],
    ]
    for name in ("upgrad", "cagrad", "pcgrad"):
        rule = keras_gs.surgery.get(name)
        combiner, _ = make(rule, 3)
        update, _ = finish(combiner, grads)
        direct = rule(
            [[tf.constant(g, tf.float32) for g in d] for d in grads],
            seed=SEED,
        )
        for a, b in zip(update, direct):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, err_msg=name)


# GradVac with targets 0 is PCGrad with the same orders (K = 2: one order).
# Per variable, kernel g1 = (1, 0), g2 = (-1, 1): phi = -1/sqrt 2 < 0 both
# ways, g1' = g1 + g2/2 = (.5, .5), g2' = g2 + g1 = (0, 1), sum (.5, 1.5);
# bias g1 = g2 = 1: phi = 1, no correction, sum 2. New targets: 0.5 phi,
# i.e. -1/(2 sqrt 2) for the kernel and 1/2 for the bias.
# Over the whole network g1 = (1, 0 | 1), g2 = (-1, 1 | 1) do not conflict
# (dot 0): the sum (0, 1 | 2), and targets 0.5 * 0 = 0.
PAIR = [[[[1.0], [0.0]], [1.0]], [[[-1.0], [1.0]], [1.0]]]


@pytest.mark.parametrize(
    "group, kernel, bias, targets",
    [
        ("variable", [0.5, 1.5], 2.0, [-1 / (2 * math.sqrt(2)), 0.5]),
        ("network", [0.0, 1.0], 2.0, [0.0]),
    ],
)
def test_gradvac_per_group_by_hand(group, kernel, bias, targets):
    rule = keras_gs.surgery.get("gradvac", group=group)
    combiner, state = make(rule, 2)
    (update_kernel, update_bias), _ = finish(combiner, PAIR)
    np.testing.assert_allclose(update_kernel[:, 0], kernel, atol=1e-6)
    np.testing.assert_allclose(update_bias, [bias], atol=1e-6)
    stored = state.variables["targets"].numpy()
    assert stored.shape == (len(targets), 2, 2)
    for b, target in enumerate(targets):
        np.testing.assert_allclose(
            stored[b], [[0.0, target], [target, 0.0]], atol=1e-6
        )


def test_gradvac_per_layer_takes_the_networks_layers():
    # Dense(2) then Dense(1): groups (kernel, bias) of each layer.
    rule = keras_gs.surgery.get("gradvac", group="layer")
    state = SurgeryState(rule, 3, network(2), tf.distribute.get_strategy())
    assert state.groups == [(0, 1), (2, 3)]
    assert state.variables["targets"].shape == (2, 3, 3)


def test_a_non_finite_step_keeps_the_state_and_reset_restores_it():
    rule = keras_gs.surgery.get("nash-mtl")
    combiner, state = make(rule, 3)
    np.testing.assert_array_equal(state.variables["alpha"].numpy(), np.ones(3))
    grads = [
        [[[1.0], [2.0]], [0.5]],
        [[[-2.0], [1.0]], [-1.0]],
        [[[0.5], [-1.0]], [2.0]],
    ]
    _, result = finish(combiner, grads)
    assert bool(result.finite)
    alpha = state.variables["alpha"].numpy()
    assert not np.allclose(alpha, 1.0)
    # The same alpha as the rule's own state after one call.
    direct = keras_gs.surgery.get("nash-mtl")
    direct([[tf.constant(g, tf.float32) for g in d] for d in grads])
    np.testing.assert_allclose(
        alpha, direct._carried_state[1]["alpha"].numpy(), rtol=1e-6
    )

    grads[1][0][0][0] = float("nan")
    update, result = finish(combiner, grads)
    assert not bool(result.finite)
    np.testing.assert_array_equal(state.variables["alpha"].numpy(), alpha)
    state.reset()
    np.testing.assert_array_equal(state.variables["alpha"].numpy(), np.ones(3))


def test_graddrop_reports_the_components_with_both_signs():
    # Components: (+, +) agree; (+, -) and (-, +) lose a side; (0, -) has
    # one sign only.
    grads = [
        [tf.constant([1.0, 2.0, -1.0, 0.0])],
        [tf.constant([3.0, -1.0, 2.0, -2.0])],
    ]
    (mask,) = keras_gs.surgery.get("graddrop").replaced_masks(grads)
    np.testing.assert_array_equal(mask.numpy(), [False, True, True, False])
