"""GradVac, by hand, step by step."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.surgery.gradvac import gradvac_weights
from keras_gs.surgery.pcgrad_orders import per_domain_projection_weights


def step(vectors, targets, orders, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    weights, new_targets = gradvac_weights(
        tf.constant(jac @ jac.T, dtype),
        tf.constant(targets, dtype),
        tf.constant(orders),
        **options,
    )
    return jac.T @ weights.numpy().astype(float), new_targets.numpy()


def test_first_step_is_pcgrad():
    # g1 = (1, 0), g2 = (-1, 1), targets 0, phi = -1/sqrt 2 < 0 both ways.
    # i = 1: w = |g1| (0 - phi * 1) / (|g2| * 1) = (1/sqrt 2)/sqrt 2 = 1/2,
    #   g1' = g1 + g2/2 = (1/2, 1/2) (PCGrad: g1 - <g1, g2>/|g2|^2 g2).
    # i = 2: w = sqrt 2 (1/sqrt 2) / 1 = 1, g2' = g2 + g1 = (0, 1).
    # d = (1/2, 3/2); targets 0.5 * phi = -1/(2 sqrt 2) both.
    d, targets = step([[1, 0], [-1, 1]], np.zeros((2, 2)), [[1], [0]])
    np.testing.assert_allclose(d, [0.5, 1.5], atol=1e-15)
    phi = -1 / (2 * math.sqrt(2))
    np.testing.assert_allclose(targets, [[0, phi], [phi, 0]], atol=1e-15)


def test_a_positive_target_is_reached():
    # g1 = (1, 0), g2 = (0, 1): phi = 0 < target 0.5 for (1, 2):
    # w = 1 (0.5 * 1 - 0) / (1 * sqrt(0.75)) = 1/sqrt 3, g1' = (1, 1/sqrt 3),
    # whose cosine with g2 is (1/sqrt 3)/(2/sqrt 3) = 1/2, the target.
    # (2, 1) has target -1 < phi = 0: no change. New targets:
    # 0.5 * 0.5 + 0.5 * 0 = 0.25 and 0.5 * (-1) + 0 = -0.5.
    d, targets = step(np.eye(2), [[0, 0.5], [-1, 0]], [[1], [0]])
    np.testing.assert_allclose(d, [1, 1 + 1 / math.sqrt(3)], atol=1e-15)
    np.testing.assert_allclose(targets, [[0, 0.25], [-0.5, 0]], atol=1e-15)


def test_three_domains_in_3d():
    # g1 = (1,0,0), g2 = (-1,1,0), g3 = (0,0,1), targets 0: only the pair
    # (1, 2) conflicts; as in the first test g1' = (1/2, 1/2, 0),
    # g2' = (0, 1, 0), g3' = g3: d = (1/2, 3/2, 1) in either order.
    vectors = [[1, 0, 0], [-1, 1, 0], [0, 0, 1]]
    for orders in ([[1, 2], [0, 2], [0, 1]], [[2, 1], [2, 0], [1, 0]]):
        d, _ = step(vectors, np.zeros((3, 3)), orders)
        np.testing.assert_allclose(d, [0.5, 1.5, 1], atol=1e-15)


def test_zero_targets_give_pcgrad_with_the_same_orders():
    # AGGREGATORS.md: with targets 0 GradVac is exactly PCGrad.
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(4, 3))
    gram = tf.constant(jac @ jac.T)
    orders = tf.constant([[1, 2, 3], [3, 0, 2], [0, 3, 1], [2, 1, 0]])
    weights, _ = gradvac_weights(gram, tf.zeros((4, 4), tf.float64), orders)
    np.testing.assert_allclose(
        weights, per_domain_projection_weights(gram, orders), atol=1e-12
    )


def test_eps_is_relative_so_tiny_gradients_behave_the_same():
    # TorchJD's absolute eps = 1e-8 makes phi ~ 0 for |g|^2 ~ 1e-12.
    vectors = np.array([[1.0, 0], [-1, 1]])
    d, targets = step(vectors, np.zeros((2, 2)), [[1], [0]])
    tiny, tiny_targets = step(1e-6 * vectors, np.zeros((2, 2)), [[1], [0]])
    np.testing.assert_allclose(tiny, 1e-6 * d, rtol=1e-7)
    np.testing.assert_allclose(tiny_targets, targets, rtol=1e-7)


def test_float32_and_invalid_options():
    d, _ = step([[1, 0], [-1, 1]], np.zeros((2, 2)), [[1], [0]], dtype=tf.float32)
    np.testing.assert_allclose(d, [0.5, 1.5], atol=1e-6)
    with pytest.raises(ValueError, match="beta"):
        step(np.eye(2), np.zeros((2, 2)), [[1], [0]], beta=2.0)
