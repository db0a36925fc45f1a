"""Nash-MTL: alpha_k (G alpha)_k = 1 solved exactly, by hand and against
scipy."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from keras_gs.surgery.nash_mtl import nash_mtl_weights


def solve(vectors, alpha_prev=None, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    if alpha_prev is None:
        alpha_prev = np.ones(len(jac))
    weights, alpha = nash_mtl_weights(
        tf.constant(jac @ jac.T, dtype), tf.constant(alpha_prev, dtype), **options
    )
    weights = weights.numpy().astype(float)
    return weights, alpha.numpy().astype(float), jac.T @ weights


def test_orthogonal_vectors():
    # G = diag(1, 4): alpha_k^2 G_kk = 1, alpha = (1, 1/2), d = (1, 1) of
    # norm sqrt 2 = sqrt K, clipped to max_norm = 1.
    weights, alpha, d = solve([[1, 0], [0, 2]])
    np.testing.assert_allclose(alpha, [1, 0.5], rtol=1e-9)
    np.testing.assert_allclose(d, np.array([1, 1]) / math.sqrt(2), rtol=1e-9)
    _, _, raw = solve([[1, 0], [0, 2]], max_norm=0.0)
    np.testing.assert_allclose(raw, [1, 1], rtol=1e-9)


def test_two_vectors_at_45_degrees():
    # G = [[1, 1], [1, 2]]: a1 (a1 + a2) = 1 and a2 (a1 + 2 a2) = 1. The
    # first gives a2 = 1/a1 - a1; in the second, with x = a1^2:
    # (1 - x)(2 - x) = x, x^2 - 4x + 2 = 0, x = 2 - sqrt 2 (x < 1 for
    # a2 > 0). |d|^2 = sum a_k (G a)_k = 2.
    a1 = math.sqrt(2 - math.sqrt(2))
    a2 = 1 / a1 - a1
    weights, alpha, d = solve([[1, 0], [1, 1]], max_norm=0.0)
    np.testing.assert_allclose(alpha, [a1, a2], rtol=1e-9)
    np.testing.assert_allclose(d, [a1 + a2, a2], rtol=1e-9)
    np.testing.assert_allclose(d @ d, 2, rtol=1e-9)


def test_three_orthogonal_vectors_give_a_unit_update():
    # alpha = (1, 1/2, 1/3), d = (1, 1, 1), clipped to (1, 1, 1)/sqrt 3.
    _, alpha, d = solve([[1, 0, 0], [0, 2, 0], [0, 0, 3]])
    np.testing.assert_allclose(alpha, [1, 1 / 2, 1 / 3], rtol=1e-9)
    np.testing.assert_allclose(d, [1 / math.sqrt(3)] * 3, rtol=1e-9)


def test_a_zero_gradient_is_left_out_of_the_bargaining():
    weights, alpha, d = solve([[1, 0], [0, 0], [0, 2]])
    np.testing.assert_allclose(alpha, [1, 0, 0.5], rtol=1e-9)
    np.testing.assert_allclose(d, np.array([1, 1]) / math.sqrt(2), rtol=1e-9)


@pytest.mark.parametrize(
    "vectors, expected",
    [
        ([[1, 2], [-1, -2]], [0, 0]),  # opposed: cancelling weights
        ([[1, 0], [-1, 0], [0, 1]], [0, 1]),  # the opposed pair cancels
        ([[0, 0], [0, 0]], [0, 0]),  # nothing to bargain with
        ([[3, 4]], [0.6, 0.8]),  # K = 1: g / |g|
    ],
    ids=["opposed", "opposed-pair-plus-one", "all-zero", "one-domain"],
)
def test_infeasible_and_degenerate_cases_are_finite(vectors, expected):
    weights, alpha, d = solve(vectors)
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(alpha))
    np.testing.assert_allclose(d, expected, atol=1e-8)


def test_the_answer_does_not_depend_on_the_warm_start_or_the_scale():
    # TorchJD's 20 capped iterations from alpha = 1 give a direction 62 %
    # different for J and 1e-3 J; the exact solution scales as 1/s.
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(4, 6))
    _, alpha, d = solve(jac)
    for start, factor in [(np.full(4, 1e3), 1.0), (rng.uniform(0.1, 5, 4), 1e-3)]:
        _, other_alpha, other_d = solve(factor * jac, alpha_prev=start)
        np.testing.assert_allclose(other_d, d, rtol=1e-8)
        np.testing.assert_allclose(other_alpha * factor, alpha, rtol=1e-8)


def test_kkt_residual_and_scipy():
    # f(a) = a^T C a / 2 - sum log a on the cosine matrix C (a_k = |g_k|
    # alpha_k) is convex; its minimiser solves the same equations.
    rng = np.random.default_rng(1)
    for _ in range(6):
        k = rng.integers(2, 6)
        jac = rng.normal(size=(k, k + 2)) * 10.0 ** rng.uniform(-3, 2, (k, 1))
        gram = jac @ jac.T
        _, alpha, _ = solve(jac, max_norm=0.0)
        np.testing.assert_allclose(alpha * (gram @ alpha), 1, atol=1e-8)
        norms = np.sqrt(np.diag(gram))
        cosines = gram / np.outer(norms, norms)
        reference = minimize(
            lambda a: 0.5 * a @ cosines @ a - np.log(a).sum(),
            np.ones(k),
            jac=lambda a: cosines @ a - 1 / a,
            bounds=[(1e-9, None)] * k,
            method="L-BFGS-B",
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
        ).x
        np.testing.assert_allclose(alpha * norms, reference, rtol=1e-6)


def test_float32_gram():
    _, alpha, d = solve([[1, 0], [0, 2]], dtype=tf.float32)
    np.testing.assert_allclose(alpha, [1, 0.5], rtol=1e-6)
