"""Single-class and all-class batches drawn from per-domain datasets."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.analysis import sampling


def domain(labels, offset):
    """A dataset whose x is the example's position plus `offset`."""
    labels = np.asarray(labels, "int32")
    x = (np.arange(len(labels)) + offset).astype("float32")[:, None]
    return tf.data.Dataset.from_tensor_slices((x, labels))


def test_single_class_batches_hold_one_class_in_every_domain():
    labels = [np.array([0, 1, 2, 0, 1, 2, 0]), np.array([2, 2, 1, 0, 1])]
    batches = sampling.draw_indices(labels, 4, classes=[0, 1, 2], repeats=2)
    single = [b for b in batches if b.kind == sampling.SINGLE_CLASS]
    every = [b for b in batches if b.kind == sampling.ALL_CLASSES]
    assert [b.label for b in single] == [0, 0, 1, 1, 2, 2]
    assert len(every) == 6
    for b in single:
        assert b.indices.shape == (2, 4)
        for k in range(2):
            assert set(labels[k][b.indices[k]]) == {b.label}
    # Class 0 has one example in domain 1: drawn with replacement.
    assert set(single[0].indices[1]) == {3}


def test_draws_are_reproducible_from_the_seed():
    labels = [np.arange(20) % 3, np.arange(30) % 3]
    a = sampling.draw_indices(labels, 5, [0, 1, 2], seed=7)
    b = sampling.draw_indices(labels, 5, [0, 1, 2], seed=7)
    c = sampling.draw_indices(labels, 5, [0, 1, 2], seed=8)
    assert all(np.array_equal(x.indices, y.indices) for x, y in zip(a, b))
    assert not all(np.array_equal(x.indices, y.indices) for x, y in zip(a, c))


def test_without_replacement_a_small_class_is_refused_by_name():
    labels = [np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])]
    message = "'sketch' has 2 examples of class 'dog'"
    with pytest.raises(ValueError, match=message):
        sampling.draw_indices(
            labels,
            3,
            [0],
            replace=False,
            domain_names=["photo", "sketch"],
            class_names=["dog", "cat"],
        )
    batches = sampling.draw_indices(labels, 2, [0], replace=False)
    assert all(len(set(row)) == 2 for row in batches[0].indices)


def test_a_class_missing_from_a_domain_is_left_out_with_a_warning():
    labels = [np.array([0, 1, 1]), np.array([1, 1, 1])]
    with pytest.warns(UserWarning, match=r"class 0 in domain\(s\) \[1\]"):
        batches = sampling.draw_indices(labels, 2, [0, 1])
    assert [b.label for b in batches if b.kind == sampling.SINGLE_CLASS] == [1]


def test_rejects_batches_of_one_example():
    with pytest.raises(ValueError, match="batch_size=1"):
        sampling.draw_indices([np.zeros(3)], 1, [0])


def test_class_batches_gather_the_drawn_examples():
    datasets = [domain([0, 1, 0, 1, 1], 0), domain([1, 0, 0], 100)]
    batches = sampling.class_batches(datasets, num_classes=2, batch_size=3)
    assert len(batches) == 4
    for b in batches:
        assert b.x.shape == (2, 3, 1)
        assert b.y.shape == (2, 3) and b.y.dtype == np.int32
        # x encodes the position: its label must be the label read back.
        for k, labels in enumerate(([0, 1, 0, 1, 1], [1, 0, 0])):
            positions = b.x[k, :, 0].astype(int) - 100 * k
            np.testing.assert_array_equal(np.take(labels, positions), b.y[k])
        if b.kind == sampling.SINGLE_CLASS:
            assert set(b.y.ravel()) == {b.label}
    with pytest.raises(ValueError, match=r"classes=\[5\]"):
        sampling.class_batches(datasets, num_classes=2, classes=[5])
