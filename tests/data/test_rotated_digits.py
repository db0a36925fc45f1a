"""Tests for the embedded rotated-digits dataset."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from keras_gs.data import rotated_digits
from keras_gs.data.rotated_digits import make_rotated_digits


def test_domains_shapes_and_values():
    images, labels = make_rotated_digits()
    assert list(images) == ["0", "15", "30", "45", "60", "75"]
    # 1,797 = 3 * 300 + 3 * 299: np.array_split gives the extra ones first.
    assert [len(labels[d]) for d in images] == [300, 300, 300, 299, 299, 299]
    for domain, x in images.items():
        assert x.shape == (len(labels[domain]), 28, 28, 1)
        assert x.dtype == np.float32
        assert x.min() == 0.0 and 0.9 < x.max() <= 1.0
    with pytest.raises(ValueError):
        images["0"][0, 0, 0, 0] = 1.0  # Read-only: the result is cached.


def test_disjoint_domains_use_every_digit_once():
    _, labels = make_rotated_digits()
    counts = np.bincount(np.concatenate(list(labels.values())), minlength=10)
    np.testing.assert_array_equal(
        counts, np.bincount(load_digits().target, minlength=10)
    )


def test_not_disjoint_three_channels_and_size():
    images, labels = make_rotated_digits(16, channels=3, disjoint=False)
    assert images["45"].shape == (1797, 16, 16, 3)
    np.testing.assert_array_equal(labels["0"], load_digits().target)
    np.testing.assert_array_equal(images["30"][..., 0], images["30"][..., 2])


def test_rotation_is_counter_clockwise():
    # A bar from the centre straight up, rotated by 45 degrees
    # counter-clockwise, points up and to the left: its mass moves left of
    # the centre column and stays above the centre row.
    bar = np.zeros((8, 8), np.float32)
    bar[0:4, 3:5] = 1.0
    for angle, left in ((0, False), (45, True)):
        image = rotated_digits._rotate(bar, 28, angle)
        rows, cols = np.nonzero(image > 0.5)
        assert rows.mean() < 13.5
        assert (cols.mean() < 12.5) == left


def test_deterministic():
    first, _ = rotated_digits._build.__wrapped__(20, 1, True, 0)
    second, _ = rotated_digits._build.__wrapped__(20, 1, True, 0)
    other, _ = rotated_digits._build.__wrapped__(20, 1, True, 1)
    np.testing.assert_array_equal(first["60"], second["60"])
    assert not np.array_equal(first["60"], other["60"])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"channels": 2}, "channels=2"), ({"image_size": 4}, "image_size=4")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_rotated_digits(**kwargs)
