"""IMTL-G: equal projections on every unit gradient, by hand."""

import math

import numpy as np
import tensorflow as tf

from keras_gs.surgery.imtl_g import imtl_g_weights


def weights_and_update(vectors, dtype=tf.float64):
    jac = np.asarray(vectors, dtype=float)
    w = imtl_g_weights(tf.constant(jac @ jac.T, dtype)).numpy().astype(float)
    return w, jac.T @ w


def test_two_vectors_at_45_degrees():
    # G = [[1, 1], [1, 2]], sqrt(diag G) = (1, sqrt 2), G^-1 = [[2, -1],
    # [-1, 1]]: v = (2 - sqrt 2, sqrt 2 - 1), sum(v) = 1, w = v.
    # d = (1, sqrt 2 - 1): <d, u1> = 1 and <d, u2> = sqrt(2) / sqrt(2) = 1.
    w, d = weights_and_update([[1, 0], [1, 1]])
    np.testing.assert_allclose(w, [2 - math.sqrt(2), math.sqrt(2) - 1], atol=1e-15)
    np.testing.assert_allclose(d, [1, math.sqrt(2) - 1], atol=1e-15)


def test_three_orthogonal_vectors():
    # G = diag(1, 4, 9), v = (1/1, 2/4, 3/9), sum 11/6: w = (6, 3, 2) / 11
    # and d = (6/11) (1, 1, 1), equal on every axis.
    w, d = weights_and_update([[1, 0, 0], [0, 2, 0], [0, 0, 3]])
    np.testing.assert_allclose(w, np.array([6, 3, 2]) / 11, atol=1e-15)
    np.testing.assert_allclose(d, [6 / 11] * 3, atol=1e-15)


def test_a_zero_gradient_gets_weight_zero():
    # pinv(diag(1, 0, 4)) (1, 0, 2) = (1, 0, 1/2), sum 3/2:
    # w = (2/3, 0, 1/3), d = (2/3, 2/3). LibMTL's closed form gives NaN.
    w, d = weights_and_update([[1, 0], [0, 0], [0, 2]])
    np.testing.assert_allclose(w, [2 / 3, 0, 1 / 3], atol=1e-15)
    np.testing.assert_allclose(d, [2 / 3, 2 / 3], atol=1e-15)


def test_opposed_gradients_give_zero():
    # G = [[1, -1], [-1, 1]], sqrt(diag G) = (1, 1) is in its null space:
    # v = 0, and the weights are 0 (TorchJD's convention).
    w, d = weights_and_update([[1, 2], [-1, -2]])
    np.testing.assert_allclose(w, [0, 0], atol=1e-15)


def test_large_gradients_are_not_cut_off():
    # TorchJD's absolute |sum v| < 1e-12 zeroes this (v ~ 1/|g| ~ 1e-14).
    w, d = weights_and_update(1e14 * np.eye(2))
    np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-15)


def test_float32_gram():
    w, _ = weights_and_update([[1, 0], [1, 1]], dtype=tf.float32)
    np.testing.assert_allclose(w, [2 - math.sqrt(2), math.sqrt(2) - 1], atol=1e-6)
