"""Aligned-MTL, by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.surgery.aligned_mtl import aligned_mtl_weights


def update(vectors, dtype=tf.float64, **options):
    jac = np.asarray(vectors, dtype=float)
    w = aligned_mtl_weights(tf.constant(jac @ jac.T, dtype), **options).numpy()
    return jac.T @ w.astype(float)


@pytest.mark.parametrize(
    "scale_mode, s", [("min", 1.0), ("median", 4.0), ("rmse", 14 / 3)]
)
def test_orthogonal_vectors_by_hand(scale_mode, s):
    # G = diag(1, 4, 9): V = I, B = sqrt(s) diag(1, 1/2, 1/3), w = B 1/3,
    # d = sqrt(s) (1, 1, 1) / 3 with s the least eigenvalue 1, the median 4
    # or the mean 14/3.
    d = update([[1, 0, 0], [0, 2, 0], [0, 0, 3]], scale_mode=scale_mode)
    np.testing.assert_allclose(d, [math.sqrt(s) / 3] * 3, atol=1e-15)


def test_median_of_two_is_the_lower_one():
    # Eigenvalues (1, 4): torch.median gives 1, so "median" = "min" here.
    d = update([[1, 0], [0, 2]], scale_mode="median")
    np.testing.assert_allclose(d, [0.5, 0.5], atol=1e-15)


def test_two_unit_vectors_at_cosine_0_6():
    # G = [[1, .6], [.6, 1]]: eigenvectors (1, 1)/sqrt 2 (1.6) and
    # (1, -1)/sqrt 2 (0.4). p = (1/2, 1/2) lies on the first, so
    # B p = sqrt(0.4) / sqrt(1.6) p = p / 2: d = (g1 + g2) / 4 = (0.4, 0.2).
    np.testing.assert_allclose(
        update([[1, 0], [0.6, 0.8]]), [0.4, 0.2], atol=1e-15
    )


def test_rank_deficient_and_degenerate():
    # Opposed: only the eigenvector (1, -1)/sqrt 2 is kept, p is orthogonal
    # to it, d = 0. All zero: rank 0, B = I, d = 0.
    np.testing.assert_allclose(update([[1, 2], [-1, -2]]), [0, 0], atol=1e-15)
    np.testing.assert_allclose(update(np.zeros((3, 2))), [0, 0], atol=0)


def test_float32_gram_and_unknown_mode():
    np.testing.assert_allclose(
        update([[1, 0], [0.6, 0.8]], dtype=tf.float32), [0.4, 0.2], atol=1e-6
    )
    with pytest.raises(ValueError, match="scale_mode"):
        aligned_mtl_weights(tf.eye(2), scale_mode="max")
