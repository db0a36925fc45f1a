"""CAGrad, by hand and against scipy."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from keras_gs.surgery.cagrad import cagrad_weights


def update(vectors, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    w = cagrad_weights(tf.constant(jac @ jac.T, dtype), **options).numpy()
    return jac.T @ w.astype(float)


def test_one_domain_is_scaled_by_one_plus_c():
    # g0 = g, rho = c |g|, g_w = g: d = g + c g.
    np.testing.assert_allclose(update([[3, 4]], c=0.5), [4.5, 6], atol=1e-14)


def test_orthogonal_unit_vectors():
    # g0 = (1/2, 1/2), rho = c / sqrt(2). F(w) = <g_w, g0> + rho |g_w| with
    # <g_w, g0> = 1/2 for every w and |g_w| least at w = (1/2, 1/2), so
    # g_w = g0 and d = g0 + c |g0| g0 / |g0| = 1.5 g0 = (0.75, 0.75).
    np.testing.assert_allclose(update(np.eye(2), c=0.5), [0.75, 0.75], atol=1e-14)


def test_two_conflicting_vectors_by_hand():
    # g1 = (1, 0), g2 = (-1, 1): g0 = (0, 1/2), rho = c/2,
    # b = (<g1, g0>, <g2, g0>) = (0, 1/2). With w = w1:
    # g_w = (2w - 1, 1 - w), s(w) = |g_w| = sqrt(5w^2 - 6w + 2),
    # F(w) = (1 - w)/2 + (c/2) s(w), F'(w) = 0 <=> c (5w - 3) = s(w)
    # (so w >= 3/5) <=> c^2 (5w - 3)^2 = 5w^2 - 6w + 2.
    # c = 0.8: 11 w^2 - 13.2 w + 3.76 = 0, w = (13.2 + sqrt(8.8)) / 22.
    w = (13.2 + math.sqrt(8.8)) / 22
    g_w = np.array([2 * w - 1, 1 - w])
    expected = np.array([0, 0.5]) + 0.4 * g_w / np.linalg.norm(g_w)
    d = update([[1, 0], [-1, 1]], c=0.8)
    np.testing.assert_allclose(d, expected, atol=1e-14)
    # Both domains are the worst one at the max-min point.
    np.testing.assert_allclose(d @ [1, 0], d @ [-1, 1], atol=1e-14)
    # c = 0.5: 5w^2 - 6w + 1 = 0, w = 1 (w = 1/5 < 3/5 is spurious): the
    # vertex g_w = g1, d = g0 + (1/4) (1, 0).
    np.testing.assert_allclose(
        update([[1, 0], [-1, 1]], c=0.5), [0.25, 0.5], atol=1e-14
    )


@pytest.mark.parametrize("rescale, factor", [(0, 1.5), (1, 1.5 / 1.25), (2, 1.0)])
def test_three_orthogonal_vectors_and_rescale(rescale, factor):
    # By symmetry w* = 1/3, g_w = g0 and d = (1 + c) g0 = (1.5/3) (1, 1, 1);
    # rescale 1 divides by 1 + c^2 = 1.25, rescale 2 by 1 + c = 1.5.
    d = update(np.eye(3), c=0.5, rescale=rescale)
    np.testing.assert_allclose(d, [factor / 3] * 3, atol=1e-14)


def test_a_zero_gradient_gives_the_point_of_the_cone_nearest_the_mean():
    # g1 = 0: max_d min_k <g_k, d> is 0 for every d, so every d of the
    # ball with <g_k, d> >= 0 is optimal; g0 = (1/3, 1/3) conflicts with no
    # one, so it is the answer (TorchJD returns 0, outside the ball).
    np.testing.assert_allclose(
        update([[0, 0], [1, 0], [0, 1]], c=0.5), [1 / 3, 1 / 3], atol=1e-14
    )


def test_float32_gram():
    np.testing.assert_allclose(
        update(np.eye(3), dtype=tf.float32), [0.5] * 3, atol=1e-6
    )


def test_invalid_options():
    with pytest.raises(ValueError, match="rescale"):
        cagrad_weights(tf.eye(2), rescale=3)
    with pytest.raises(ValueError, match="c"):
        cagrad_weights(tf.eye(2), c=-1.0)


def _scipy_cagrad(jac, c, rng):
    gram = jac @ jac.T
    g0 = jac.mean(axis=0)
    rho = c * np.linalg.norm(g0)
    b = jac @ g0
    best = None
    for _ in range(4):
        result = minimize(
            lambda w: w @ b + rho * np.sqrt(w @ gram @ w),
            rng.dirichlet(np.ones(len(jac))),
            bounds=[(0, 1)] * len(jac),
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    g_w = jac.T @ best.x
    return g0 + rho * g_w / np.linalg.norm(g_w)


def test_against_scipy():
    rng = np.random.default_rng(2)
    for trial in range(12):
        k = rng.integers(2, 5)
        jac = rng.normal(size=(k, k + 1)) * 10.0 ** rng.uniform(-1, 1, (k, 1))
        c = [0.2, 0.5, 0.9][trial % 3]
        np.testing.assert_allclose(
            update(jac, c=c),
            _scipy_cagrad(jac, c, rng),
            atol=1e-5 * np.linalg.norm(jac.mean(axis=0)),
        )
