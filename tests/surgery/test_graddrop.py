"""GradDrop, component by component, by hand."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.surgery.graddrop import graddrop


def run(domains, uniforms, **options):
    grads = [[tf.constant(v, tf.float64) for v in domain] for domain in domains]
    draws = [tf.constant(u, tf.float64) for u in uniforms]
    return [x.numpy() for x in graddrop(grads, draws, **options)]


# Two domains, two variables.
DOMAINS = [
    [[1.0, -1.0, 2.0, 0.0], [[-3.0]]],
    [[1.0, 3.0, -2.0, 0.0], [[1.0]]],
]
UNIFORMS = [[0.5, 0.5, 0.6, 0.9], [[0.1]]]


def test_signs_kept_by_hand():
    # a0: P = (1 + 2/2)/2 = 1 > 0.5: keep positives: 1 + 1 = 2.
    # a1: P = (1 + 2/4)/2 = 0.75 > 0.5: keep positives: 3.
    # a2: P = (1 + 0/4)/2 = 0.5 < 0.6: keep negatives: -2.
    # a3: all zero: 0.
    # b0: P = (1 - 2/4)/2 = 0.25 > 0.1: keep positives: 1.
    a, b = run(DOMAINS, UNIFORMS)
    np.testing.assert_allclose(a, [2, 3, -2, 0])
    np.testing.assert_allclose(b, [[1]])


def test_leak():
    # leak 0.5 lets half of every dropped gradient through:
    # a1: 3 + 0.5 * (-1); a2: -2 + 0.5 * 2; b0: 1 + 0.5 * (-3).
    a, b = run(DOMAINS, UNIFORMS, leak=0.5)
    np.testing.assert_allclose(a, [2, 2.5, -1, 0])
    np.testing.assert_allclose(b, [[-0.5]])
    # Per domain: domain 1 always passes (leak 1), domain 2 never leaks:
    # a1: -1 + 3; a2: 2 + (-2) (negatives kept).
    a, _ = run(DOMAINS, UNIFORMS, leak=[1.0, 0.0])
    np.testing.assert_allclose(a, [2, 2, 0, 0])


def test_identical_gradients_are_summed_and_opposed_ones_pick_a_sign():
    g = [[0.5, -2.0]]
    (same,) = run([g, g, g], [[0.3, 0.999]])
    np.testing.assert_allclose(same, [1.5, -6])
    # g, -g: P = 1/2; U = 0.3 keeps the positive one, U = 0.7 the negative.
    (opposed,) = run([[[1.0, 1.0]], [[-1.0, -1.0]]], [[0.3, 0.7]])
    np.testing.assert_allclose(opposed, [1, -1])


def test_float32_and_errors():
    grads = [[tf.constant([1.0, -1.0])], [tf.constant([1.0, 3.0])]]
    (d,) = graddrop(grads, [tf.constant([0.5, 0.5])])
    assert d.dtype == tf.float32
    np.testing.assert_allclose(d, [2, 3])
    with pytest.raises(ValueError, match="leak"):
        graddrop(grads, [tf.constant([0.5, 0.5])], leak=[0.1])
