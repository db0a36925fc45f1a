"""Options tested away from the values where a swap hides.

GradVac's beta = 0.5 weighs the EMA's two terms equally, GradDrop's
leak = 0.5 equals 1 - leak, CAGrad's c = 0.5 equals 1 - c, Nash-MTL's
max_norm = 1 equals its inverse, ConFIG's default preferences are all
equal: an implementation with the two sides swapped passes every test at
those values. Each case here is worked by hand at a value where the swap
gives another number.
"""

import math

import numpy as np
import tensorflow as tf

from keras_gs.surgery.cagrad import cagrad_weights
from keras_gs.surgery.config_rule import config_weights
from keras_gs.surgery.graddrop import graddrop
from keras_gs.surgery.gradvac import gradvac_weights
from keras_gs.surgery.nash_mtl import nash_mtl_weights


def gradvac_step(jac, targets, beta):
    jac = np.asarray(jac, float)
    weights, new_targets = gradvac_weights(
        tf.constant(jac @ jac.T),
        tf.constant(targets, tf.float64),
        tf.constant([[1], [0]]),
        beta=beta,
    )
    return jac.T @ weights.numpy(), new_targets.numpy()


def test_gradvac_ema_at_beta_0_1():
    # g1 = (1, 0), g2 = (0, 1): phi = 0 both ways. Pair (1, 2), target
    # 0.5 > 0: g1' = g1 + g2 / sqrt 3 (cosine 1/2), and the target becomes
    # 0.9 * 0.5 + 0.1 * 0 = 0.45 (swapped: 0.05). Pair (2, 1), target -1:
    # no correction, -0.9 (swapped: -0.1).
    d, targets = gradvac_step(np.eye(2), [[0, 0.5], [-1, 0]], beta=0.1)
    np.testing.assert_allclose(d, [1, 1 + 1 / math.sqrt(3)], rtol=1e-7)
    np.testing.assert_allclose(targets, [[0, 0.45], [-0.9, 0]], atol=1e-15)


def test_gradvac_ema_over_two_steps_at_beta_0_1():
    # g1 = (1, 0), g2 = (-1, 1): phi = -1/sqrt 2 both ways, every step.
    # Step 1 from targets 0: 0.1 phi. Step 2: 0.9 (0.1 phi) + 0.1 phi
    # = 0.19 phi (swapped: 0.9 phi, then 0.99 phi).
    jac = [[1, 0], [-1, 1]]
    phi = -1 / math.sqrt(2)
    _, targets = gradvac_step(jac, np.zeros((2, 2)), beta=0.1)
    first = 0.1 * phi
    np.testing.assert_allclose(targets, [[0, first], [first, 0]], atol=1e-15)
    d, targets = gradvac_step(jac, targets, beta=0.1)
    second = 0.19 * phi
    np.testing.assert_allclose(targets, [[0, second], [second, 0]], atol=1e-15)
    # Step 2 lifts each cosine to the target t = 0.1 phi: g1' = g1 + w g2
    # with w = |g1| (t sqrt(1 - phi^2) - phi sqrt(1 - t^2))
    # / (|g2| sqrt(1 - t^2)), cos(g1', g2) = t; g2' = g2 + 2 w g1 (the
    # same with |g2| / |g1| = sqrt 2 for 1 / sqrt 2).
    g1, g2 = np.array(jac, float)
    t = 0.1 * phi
    w = (t * math.sqrt(1 - phi**2) - phi * math.sqrt(1 - t**2)) / (
        math.sqrt(2) * math.sqrt(1 - t**2)
    )
    corrected = g1 + w * g2
    cosine = corrected @ g2 / (np.linalg.norm(corrected) * math.sqrt(2))
    assert abs(cosine - t) < 1e-7
    np.testing.assert_allclose(d, g1 + w * g2 + g2 + 2 * w * g1, rtol=1e-7)


def test_graddrop_leak_0_2():
    # g1 = (1, -2), g2 = (-3, 1), u = (0.5, 0.1): P = (1 + sum/mass) / 2
    # = (0.25, 1/3). Coordinate 0: P < u keeps the negatives: g2's -3
    # whole, g1's 1 leaks 0.2 -> -2.8 (leak swapped to 0.8: -2.2).
    # Coordinate 1: P > u keeps the positives: g2's 1, g1's -2 leaks
    # 0.2 -> 0.6 (swapped: -0.6).
    domains = [[tf.constant([1.0, -2.0])], [tf.constant([-3.0, 1.0])]]
    out = graddrop(domains, [tf.constant([0.5, 0.1])], leak=0.2)[0]
    np.testing.assert_allclose(out, [-2.8, 0.6], atol=1e-6)


def test_cagrad_c_0_2():
    # Orthogonal unit g1, g2: by symmetry w* = (1/2, 1/2), g_w = g0, and
    # d = g0 + c |g0| g0 / |g0| = (1 + c) g0 = (0.6, 0.6) (c swapped to
    # 0.8: (0.9, 0.9)); rescale=1 divides by 1 + c^2 = 1.04.
    for rescale, factor in ((0, 1.0), (1, 1.04), (2, 1.2)):
        w = cagrad_weights(tf.eye(2, dtype=tf.float64), c=0.2, rescale=rescale)
        np.testing.assert_allclose(w, [0.6 / factor] * 2, rtol=1e-12)


def test_nash_mtl_max_norm_other_than_1():
    # Orthogonal unit gradients: alpha = (1, 1), |d| = sqrt 2. max_norm 2
    # leaves it; 0.5 clips it to 0.5 (swapped, 1 / max_norm, would do the
    # opposite).
    gram = tf.eye(2, dtype=tf.float64)
    ones = tf.ones([2], tf.float64)
    weights, _ = nash_mtl_weights(gram, ones, max_norm=2.0)
    np.testing.assert_allclose(weights, [1.0, 1.0], rtol=1e-9)
    weights, _ = nash_mtl_weights(gram, ones, max_norm=0.5)
    np.testing.assert_allclose(weights, [0.5 / math.sqrt(2)] * 2, rtol=1e-9)


def test_config_unequal_preferences():
    # Orthogonal unit g1, g2, p = (1, 2): b = pinv(U) p = (1, 2), b^ =
    # (1, 2)/sqrt 5, d = (sum_k <g_k, b^>) b^ = (3/sqrt 5)(1, 2)/sqrt 5 =
    # (0.6, 1.2) (p swapped: (1.2, 0.6)).
    w = config_weights(tf.eye(2, dtype=tf.float64), pref_vector=[1.0, 2.0])
    np.testing.assert_allclose(w, [0.6, 1.2], rtol=1e-12)
