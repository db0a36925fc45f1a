"""Agreement fraction and gradient cosines, by hand."""

import math

import numpy as np
import tensorflow as tf

from keras_gs import conflicts


def test_agreement_fraction_counts_zero_as_disagreement():
    grads = [
        [tf.constant([1.0, -2.0, 0.0]), tf.constant([[1.0]])],
        [tf.constant([2.0, 1.0, 1.0]), tf.constant([[3.0]])],
    ]
    # Agree: component 0 and the second variable; 2 of 4.
    assert float(conflicts.agreement_fraction(grads)) == 0.5


def test_mean_pairwise_cosine_over_the_whole_network():
    # g1 = [1, 0], g2 = [0, 1], g3 = [1, 1], each split over two variables:
    # cos12 = 0, cos13 = cos23 = 1/sqrt(2); mean = 2/(3 sqrt 2).
    grads = [
        [tf.constant([1.0]), tf.constant([0.0])],
        [tf.constant([0.0]), tf.constant([1.0])],
        [tf.constant([1.0]), tf.constant([1.0])],
    ]
    expected = 2 / (3 * math.sqrt(2))
    np.testing.assert_allclose(
        float(conflicts.mean_pairwise_cosine(grads)), expected, rtol=1e-6
    )


def test_cosine_with_a_zero_gradient_is_zero():
    grads = [[tf.constant([0.0, 0.0])], [tf.constant([1.0, 2.0])]]
    assert float(conflicts.mean_pairwise_cosine(grads)) == 0.0
