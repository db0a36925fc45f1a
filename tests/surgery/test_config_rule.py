"""ConFIG from the Gram matrix, by hand."""

import math

import numpy as np
import tensorflow as tf

from keras_gs.surgery.config_rule import config_weights


def update(vectors, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    w = config_weights(tf.constant(jac @ jac.T, dtype), **options).numpy()
    return jac.T @ w.astype(float)


def test_orthogonal_vectors():
    # Units e1, e2: b = (1, 1), b^ = (1, 1)/sqrt 2, length
    # <g1, b^> + <g2, b^> = (1 + 2)/sqrt 2: d = (1.5, 1.5).
    np.testing.assert_allclose(update([[1, 0], [0, 2]]), [1.5, 1.5], atol=1e-15)
    # Three axes (1, 2, 3): b^ = (1, 1, 1)/sqrt 3, length 6/sqrt 3.
    np.testing.assert_allclose(
        update([[1, 0, 0], [0, 2, 0], [0, 0, 3]]), [2, 2, 2], atol=1e-14
    )


def test_vectors_at_45_degrees():
    # u1 = (1, 0), u2 = (1, 1)/sqrt 2: <b, u1> = <b, u2> = 1 gives
    # b = (1, sqrt 2 - 1), |b|^2 = 4 - 2 sqrt 2, length
    # (<g1, b> + <g2, b>)/|b| = (1 + sqrt 2)/|b|, and
    # d = (1 + sqrt 2)/(4 - 2 sqrt 2) b = (4 + 3 sqrt 2)/4 (1, sqrt 2 - 1).
    r2 = math.sqrt(2)
    np.testing.assert_allclose(
        update([[1, 0], [1, 1]]), (4 + 3 * r2) / 4 * np.array([1, r2 - 1]), atol=1e-14
    )


def test_zero_and_opposed_gradients():
    # A zero gradient is ignored; opposed ones give b = 0, d = 0.
    np.testing.assert_allclose(
        update([[1, 0], [0, 0], [0, 2]]), [1.5, 1.5], atol=1e-15
    )
    np.testing.assert_allclose(update([[1, 2], [-1, -2]]), [0, 0], atol=1e-15)


def test_float32_gram():
    np.testing.assert_allclose(
        update([[1, 0], [0, 2]], dtype=tf.float32), [1.5, 1.5], atol=1e-6
    )
