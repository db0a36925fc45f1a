"""`zip_domains`: the (batch, num_domains, ...) training stream."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.data import zip_domains


def labelled(label, size, features=3):
    x = np.full((size, features), float(label), "float32")
    x[:, 0] = np.arange(size)
    return tf.data.Dataset.from_tensor_slices(
        (x, np.full(size, label, "int32"))
    )


def test_layout_puts_examples_first_and_domains_second():
    ds = zip_domains(
        [labelled(0, 10), labelled(1, 4), labelled(2, 7)], 5, seed=1
    )
    x, y = next(iter(ds))
    assert x.shape == (5, 3, 3) and y.shape == (5, 3)
    np.testing.assert_array_equal(y.numpy(), np.tile([0, 1, 2], (5, 1)))
    np.testing.assert_array_equal(
        x.numpy()[:, :, 1], np.tile([0, 1, 2], (5, 1))
    )


def test_domains_of_different_sizes_repeat_independently():
    ds = zip_domains([labelled(0, 10), labelled(1, 3)], 2, shuffle_buffer=0)
    seen = [x.numpy()[:, 1, 0].tolist() for x, _ in ds.take(3)]
    # Domain 1 has 3 examples and wraps around within the epoch of domain 0.
    assert seen == [[0, 1], [2, 0], [1, 2]]


def test_empty_domain_is_named():
    empty = labelled(1, 5).filter(lambda x, y: y < 0)
    with pytest.raises(ValueError, match="domain 1 is empty"):
        zip_domains([labelled(0, 5), empty], 2)


def test_mismatched_domains_are_named():
    with pytest.raises(ValueError, match="domain 1 yields"):
        zip_domains([labelled(0, 5), labelled(1, 5, features=4)], 2)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size=0"):
        zip_domains([labelled(0, 5)], 0)
