"""MGDA: the min-norm point of the convex hull, by hand and against scipy."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from keras_gs.surgery.mgda import mgda_weights


def weights_and_update(vectors, dtype=tf.float64):
    jac = np.asarray(vectors, dtype=float)
    w = mgda_weights(tf.constant(jac @ jac.T, dtype)).numpy().astype(float)
    return w, jac.T @ w


def test_two_orthogonal_unit_vectors_meet_in_the_middle():
    # min_t |t e1 + (1 - t) e2|^2 = t^2 + (1 - t)^2 is least at t = 1/2.
    w, d = weights_and_update([[1, 0], [0, 1]])
    np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-14)
    np.testing.assert_allclose(d, [0.5, 0.5], atol=1e-14)


def test_two_vectors_of_different_norms():
    # |t (2, 0) + (1 - t) (0, 1)|^2 = 4 t^2 + (1 - t)^2; derivative
    # 8 t - 2 (1 - t) = 0 gives t = 1/5, d = (0.4, 0.8); then
    # <d, g1> = <d, g2> = |d|^2 = 0.8.
    w, d = weights_and_update([[2, 0], [0, 1]])
    np.testing.assert_allclose(w, [0.2, 0.8], atol=1e-14)
    np.testing.assert_allclose(d, [0.4, 0.8], atol=1e-14)


def test_a_vertex_when_the_segment_points_away():
    # On (1 + t, t), t in [0, 1], |.|^2 = (1 + t)^2 + t^2 grows: t = 0, the
    # vertex g1, and <g2, g1> = 2 >= |g1|^2 = 1 confirms it.
    w, d = weights_and_update([[1, 0], [2, 1]])
    np.testing.assert_allclose(w, [1, 0], atol=1e-14)
    np.testing.assert_allclose(d, [1, 0], atol=1e-14)


def test_three_orthogonal_unit_vectors_give_the_centroid():
    # By symmetry and convexity: w = 1/3 each, d = (1/3, 1/3, 1/3).
    w, d = weights_and_update(np.eye(3))
    np.testing.assert_allclose(w, [1 / 3] * 3, atol=1e-14)
    np.testing.assert_allclose(d, [1 / 3] * 3, atol=1e-14)


def test_collinear_points_in_3d():
    # (1, 1, 0) lies on the segment from (2, 0, 0) to (0, 2, 0), whose
    # min-norm point it is: the hull is that segment (G is singular).
    _, d = weights_and_update([[2, 0, 0], [0, 2, 0], [1, 1, 0]])
    np.testing.assert_allclose(d, [1, 1, 0], atol=1e-14)


def test_duplicated_gradients():
    # Duplicating e1 changes the hull of {e1, e2} not at all.
    w, d = weights_and_update([[1, 0], [1, 0], [0, 1]])
    np.testing.assert_allclose(d, [0.5, 0.5], atol=1e-14)
    np.testing.assert_allclose(w[0] + w[1], 0.5, atol=1e-14)


def test_more_domains_than_dimensions():
    # The hull of (1, 0), (0, 1), (-1, 0.5), (3, 3) does not hold 0; its
    # closest point lies on the edge (1, 0)-(-1, 0.5): p(t) = (1 - 2t, t/2),
    # |p|^2 = (1 - 2t)^2 + t^2/4, derivative -4 (1 - 2t) + t/2 = 0 at
    # t = 8/17: p = (1/17, 4/17), |p|^2 = 1/17, and <(0, 1), p> = 4/17 and
    # <(3, 3), p> = 15/17 are both >= 1/17: optimal.
    w, d = weights_and_update([[1, 0], [0, 1], [-1, 0.5], [3, 3]])
    np.testing.assert_allclose(d, [1 / 17, 4 / 17], atol=1e-14)
    np.testing.assert_allclose(w, [9 / 17, 0, 8 / 17, 0], atol=1e-14)


@pytest.mark.parametrize(
    "vectors",
    [[[1, 2], [0, 0], [3, 1]], [[1, 2], [-1, -2]], [[1, 0], [-2, 0], [0, 1]]],
    ids=["zero-gradient", "opposed", "zero-in-hull"],
)
def test_zero_in_the_hull_gives_zero(vectors):
    w, d = weights_and_update(vectors)
    np.testing.assert_allclose(d, 0, atol=1e-14)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-14


def test_float32_gram():
    w, d = weights_and_update([[2, 0], [0, 1]], dtype=tf.float32)
    np.testing.assert_allclose(d, [0.4, 0.8], atol=1e-6)


def _scipy_min_norm(gram, rng):
    k = len(gram)
    best = None
    for _ in range(4):
        result = minimize(
            lambda w: w @ gram @ w,
            rng.dirichlet(np.ones(k)),
            jac=lambda w: 2 * gram @ w,
            bounds=[(0, 1)] * k,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-16, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    return best.x


def test_against_scipy_and_the_optimality_conditions():
    rng = np.random.default_rng(0)
    for trial in range(20):
        k, n = rng.integers(2, 6), rng.integers(1, 6)
        jac = rng.normal(size=(k, n)) * 10.0 ** rng.uniform(-2, 1, (k, 1))
        if trial % 3 == 0:
            jac[1] = jac[0]
        w, d = weights_and_update(jac)
        scale = np.linalg.norm(jac, axis=1)
        reference = jac.T @ _scipy_min_norm(jac @ jac.T, rng)
        np.testing.assert_allclose(d, reference, atol=1e-6 * scale.max())
        # Independent certificate: w in the simplex and <g_k, d> >= |d|^2.
        assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
        slack = jac @ d - d @ d
        assert np.all(slack >= -1e-12 * scale * (scale @ w)), trial
