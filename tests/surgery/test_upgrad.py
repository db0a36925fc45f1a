"""UPGrad, DualProj and the exact dual-cone projection, by hand and against
scipy."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from keras_gs.surgery.dual_cone import dual_cone_projection_weights
from keras_gs.surgery.dualproj import dualproj_weights
from keras_gs.surgery.upgrad import upgrad_weights


def update(rule, vectors, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    w = rule(tf.constant(jac @ jac.T, dtype), **options).numpy().astype(float)
    return jac.T @ w


def test_no_conflict_gives_the_mean():
    # <(1, 0), (1, 1)> = 1 > 0: every g_i / 2 is already in the dual cone.
    for rule in (upgrad_weights, dualproj_weights):
        np.testing.assert_allclose(update(rule, [[1, 0], [1, 1]]), [1, 0.5], atol=1e-15)


def test_two_conflicting_vectors_by_hand():
    # Dual cone of g1 = (1, 0), g2 = (-1, 1): {x : x1 >= 0, x2 >= x1}.
    # UPGrad: g1/2 = (0.5, 0) breaks x2 >= x1, projects onto x1 = x2:
    # (0.25, 0.25); g2/2 = (-0.5, 0.5) breaks x1 >= 0, projects onto x1 = 0:
    # (0, 0.5). Sum (0.25, 0.75).
    # DualProj: the mean (0, 0.5) is in the cone already.
    np.testing.assert_allclose(
        update(upgrad_weights, [[1, 0], [-1, 1]]), [0.25, 0.75], atol=1e-15
    )
    np.testing.assert_allclose(
        update(dualproj_weights, [[1, 0], [-1, 1]]), [0, 0.5], atol=1e-15
    )


def test_three_vectors_in_3d_by_hand():
    # Cone of (1,0,0), (-1,1,0), (0,0,1): x1 >= 0, x2 >= x1, x3 >= 0.
    # g1/3 -> (1/6, 1/6, 0); g2/3 = (-1/3, 1/3, 0) -> (0, 1/3, 0);
    # g3/3 is inside. UPGrad: (1/6, 1/2, 1/3). DualProj: the mean
    # (0, 1/3, 1/3) is inside.
    vectors = [[1, 0, 0], [-1, 1, 0], [0, 0, 1]]
    np.testing.assert_allclose(
        update(upgrad_weights, vectors), [1 / 6, 1 / 2, 1 / 3], atol=1e-15
    )
    np.testing.assert_allclose(
        update(dualproj_weights, vectors), [0, 1 / 3, 1 / 3], atol=1e-15
    )


def test_projection_of_a_vector_onto_a_known_cone():
    # Cone of (1, 0, 0) and (0, 1, 0): x1 >= 0 and x2 >= 0. The projection
    # of x = -g1 + 2 g2 = (-1, 2, 0) is (0, 2, 0) = 0 g1 + 2 g2: v = (0, 2).
    v = dual_cone_projection_weights(
        tf.constant(np.eye(2)), tf.constant([[-1.0, 2.0]])
    ).numpy()
    np.testing.assert_allclose(v, [[0, 2]], atol=1e-15)


def test_norms_1e2_and_1e_3_stay_non_conflicting():
    # g1 = (100, 0), g2 = (-100, 1e-3). Cone: 0 <= x1 <= 1e-5 x2.
    # g1/2 = (50, 0) projects onto the ray (1e-5, 1):
    # (50e-5 / (1 + 1e-10)) (1e-5, 1); g2/2 = (-50, 5e-4) onto x1 = 0:
    # (0, 5e-4). TorchJD's 1e-4 ridge (relative to tr G = 1e4) ignores
    # g2 here, and its update conflicts with g2.
    vectors = np.array([[100, 0], [-100, 1e-3]])
    d = update(upgrad_weights, vectors)
    first = 50e-5 / (1 + 1e-10) * np.array([1e-5, 1])
    # d_1 ~ 5e-9 is a difference of terms ~5e-4 (100 v_1 - 100 v_2): its
    # rounding is ~1e-16 * 5e-4 / 5e-9, so compare to |d| ~ 1e-3.
    np.testing.assert_allclose(d, first + [0, 5e-4], rtol=1e-12, atol=1e-13)
    # <d, g2> = -100 d_1 + 1e-3 d_2 = -5e-7 + 1e-6 > 0.
    np.testing.assert_allclose(vectors[1] @ d, 5e-7, rtol=1e-4)


def test_float32_gram():
    np.testing.assert_allclose(
        update(upgrad_weights, [[1, 0], [-1, 1]], dtype=tf.float32),
        [0.25, 0.75],
        atol=1e-6,
    )


def test_pref_vector():
    # p = (1, 0): UPGrad projects g1 alone: (0.5, 0.5) for g1 = (1, 0),
    # g2 = (-1, 1) (see above, doubled).
    np.testing.assert_allclose(
        update(upgrad_weights, [[1, 0], [-1, 1]], pref_vector=[1.0, 0.0]),
        [0.5, 0.5],
        atol=1e-15,
    )
    with pytest.raises(ValueError, match="pref_vector"):
        upgrad_weights(tf.eye(2), pref_vector=[1.0, 0.0, 0.0])


def _scipy_projection(jac, x):
    # The primal problem, independent of the dual: min |y - x|^2, J y >= 0
    # (rows normalised so SLSQP sees every constraint at the same scale).
    units = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    return minimize(
        lambda y: ((y - x) ** 2).sum(),
        x,
        jac=lambda y: 2 * (y - x),
        constraints=[
            {"type": "ineq", "fun": lambda y: units @ y, "jac": lambda y: units}
        ],
        method="SLSQP",
        options={"ftol": 1e-16, "maxiter": 500},
    ).x


def test_against_scipy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        k, n = rng.integers(2, 6), rng.integers(1, 6)
        jac = rng.normal(size=(k, n)) * 10.0 ** rng.uniform(-2, 1, (k, 1))
        reference = sum(_scipy_projection(jac, g / k) for g in jac)
        scale = np.linalg.norm(jac, axis=1).max()
        np.testing.assert_allclose(
            update(upgrad_weights, jac), reference, atol=1e-7 * scale
        )
        np.testing.assert_allclose(
            update(dualproj_weights, jac),
            _scipy_projection(jac, jac.mean(axis=0)),
            atol=1e-7 * scale,
        )
