"""Tests for the per-split pipeline: resize, cache, normalize, cardinality."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.data import pipeline


def _solid(values, shape=(10, 6, 3)):
    images = np.stack([np.full(shape, v, np.uint8) for v in values])
    labels = np.arange(len(values), dtype=np.int32)
    return tf.data.Dataset.from_tensor_slices((images, labels))


def test_prepare_resizes_normalizes_and_counts():
    dataset = pipeline.prepare(_solid([0, 51, 255]), 3, (5, 4), "symmetric")
    assert len(dataset) == 3
    out = list(dataset.as_numpy_iterator())
    assert [x.shape for x, _ in out] == [(4, 4, 3)] * 3
    # Symmetric: 0 -> -1, 51 -> 0.2 * 2 - 1 = -0.6, 255 -> 1.
    np.testing.assert_allclose(
        [x[0, 0, 0] for x, _ in out], [-1.0, -0.6, 1.0], rtol=1e-6
    )
    assert [int(y) for _, y in out] == [0, 1, 2]


def test_wrong_count_is_caught():
    dataset = pipeline.prepare(_solid([1, 2]), 3, (), "unit")
    with pytest.raises(tf.errors.FailedPreconditionError):
        list(dataset)


def test_file_cache(tmp_path):
    cache = pipeline.resolve_cache(str(tmp_path / "cache"), 2, (4,), False)
    dataset = pipeline.prepare(
        _solid([7, 9]), 2, (4,), "unit", cache=cache, cache_key="k"
    )
    first = [x for x, _ in dataset.as_numpy_iterator()]
    assert any(name.startswith("keras_gs-") for name in os.listdir(cache))
    again = [x for x, _ in dataset.as_numpy_iterator()]  # From the files.
    np.testing.assert_allclose(first[1], 9 / 255, rtol=1e-6)
    np.testing.assert_array_equal(first, again)


def test_resolve_cache(tmp_path):
    # 1,000 images of 224x224x3 bytes = 150 MB: fits a quarter of any
    # machine this runs on; 10**9 of them (150 PB) does not.
    assert pipeline.resolve_cache("auto", 1000, (227, 224), False) is True
    assert pipeline.resolve_cache("auto", 10**9, (227, 224), False) is False
    assert pipeline.resolve_cache("auto", 10, (28,), True) is False
    assert pipeline.resolve_cache(False, 10, (28,), False) is False
    directory = str(tmp_path / "new")
    assert pipeline.resolve_cache(directory, 10, (28,), False) == directory
    assert os.path.isdir(directory)
    with pytest.raises(ValueError, match="cache=0.5"):
        pipeline.resolve_cache(0.5, 10, (28,), False)
