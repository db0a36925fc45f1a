"""PCGrad with one random order per domain, by hand."""

import numpy as np
import tensorflow as tf

from keras_gs.surgery.pcgrad_orders import per_domain_projection_weights
from keras_gs.surgery.pcgrad_orders import random_orders

# g1 = (1, 0), g2 = (-1, 0.5), g3 = (-1, -0.5); |g2|^2 = |g3|^2 = 1.25.
VECTORS = np.array([[1.0, 0.0], [-1.0, 0.5], [-1.0, -0.5]])


def update(orders, vectors=VECTORS):
    gram = tf.constant(vectors @ vectors.T)
    w = per_domain_projection_weights(gram, tf.constant(orders)).numpy()
    return vectors.T @ w


def test_each_domain_uses_its_own_order():
    # i = 1, order (2, 3): <g1, g2> = -1, g1' = g1 + 0.8 g2 = (0.2, 0.4);
    #   <g1', g3> = -0.4, g1'' = g1' + 0.32 g3 = (-0.12, 0.24).
    #   Order (3, 2) gives the mirror image (-0.12, -0.24).
    # i = 2, order (1, 3): g2 + g1 = (0, 0.5); <(0, .5), g3> = -0.25,
    #   + 0.2 g3: (-0.2, 0.4). Order (3, 1): <g2, g3> = 0.75 >= 0, then
    #   g2 + g1 = (0, 0.5).
    # i = 3 mirrors i = 2: order (1, 2) -> (-0.2, -0.4); (2, 1) -> (0, -0.5).
    np.testing.assert_allclose(
        update([[1, 2], [0, 2], [0, 1]]), [-0.52, 0.24], atol=1e-15
    )
    np.testing.assert_allclose(
        update([[2, 1], [2, 0], [1, 0]]), [-0.12, -0.24], atol=1e-15
    )
    # Mixed: i = 1: (2, 3); i = 2: (3, 1); i = 3: (1, 2):
    # (-0.12, 0.24) + (0, 0.5) + (-0.2, -0.4).
    np.testing.assert_allclose(
        update([[1, 2], [2, 0], [0, 1]]), [-0.32, 0.34], atol=1e-15
    )


def test_full_permutations_skip_the_domain_itself():
    np.testing.assert_allclose(
        update([[0, 1, 2], [0, 1, 2], [0, 1, 2]]), [-0.52, 0.24], atol=1e-15
    )


def test_zero_and_opposed_gradients():
    # A zero g_j is never projected against; g and -g both vanish.
    np.testing.assert_allclose(
        update([[1, 2], [0, 2], [0, 1]], np.array([[1.0, 1], [0, 0], [2, 0]])),
        [3, 1],
        atol=1e-15,
    )
    np.testing.assert_allclose(
        update([[1], [0]], np.array([[1.0, 2], [-1, -2]])), [0, 0], atol=1e-15
    )


def test_random_orders_are_permutations_of_the_others():
    seen = set()
    for seed in range(20):
        orders = random_orders(3, tf.constant([seed, 7])).numpy()
        assert orders.shape == (3, 2)
        for i, row in enumerate(orders):
            assert sorted(row) == [j for j in range(3) if j != i]
        seen.add(tuple(orders[0]))
    assert seen == {(1, 2), (2, 1)}
    same = random_orders(4, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(same, random_orders(4, tf.constant([1, 2])))


def test_three_domains_in_3d():
    # g1 = (1,0,0), g2 = (-1,1,0), g3 = (0,0,1): only g1, g2 conflict.
    # g1' = g1 - (-1/2) g2 = (1/2, 1/2, 0), g2' = g2 - (-1/1) g1 = (0, 1, 0),
    # g3' = g3, in any order: d = (1/2, 3/2, 1). Numpy input works too.
    vectors = np.array([[1.0, 0, 0], [-1, 1, 0], [0, 0, 1]])
    orders = [[2, 1], [0, 2], [1, 0]]
    w = per_domain_projection_weights(vectors @ vectors.T, orders)
    np.testing.assert_allclose(vectors.T @ w.numpy(), [0.5, 1.5, 1], atol=1e-15)
