"""Tests for the stratified train/val/test split (counts worked by hand)."""

import collections

import pytest

from keras_gs.data.splits import stratified_split


def _counts(labels, split):
    return {
        name: dict(collections.Counter(labels[i] for i in indices))
        for name, indices in split.items()
    }


def test_paper_fractions_counts_per_class():
    # Class 0: 10 examples -> test 0.2*10 = 2, val 0.1*10 = 1, train 7.
    # Class 1:  5 examples -> test 1.0 -> 1, val 0.5 -> 1 (half up), train 3.
    # Class 2: 15 examples -> test 3, val 1.5 -> 2, train 10.
    # Class 3:  1 example  -> test 0.2 -> 0, val 0.1 -> 0, train 1.
    # Class 7:  2 examples -> test 0.4 -> 0, val 0.2 -> 0, train 2.
    labels = [0] * 10 + [1] * 5 + [2] * 15 + [3] + [7] * 2
    split = stratified_split(labels, (0.7, 0.1, 0.2), seed=0)
    assert _counts(labels, split) == {
        "train": {0: 7, 1: 3, 2: 10, 3: 1, 7: 2},
        "val": {0: 1, 1: 1, 2: 2},
        "test": {0: 2, 1: 1, 2: 3},
    }


def test_other_fractions_and_val_clipped():
    # (0.5, 0.25, 0.25), class of 3: test 0.75 -> 1, val 0.75 -> 1, train 1.
    # (0, 0.5, 0.5), class of 1: test 0.5 -> 1, val 0.5 -> 1 but only
    # 1 - 1 = 0 left, so val 0 and train 0.
    split = stratified_split([5, 5, 5], (0.5, 0.25, 0.25))
    assert [len(split[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    split = stratified_split([4], (0.0, 0.5, 0.5))
    assert split == {"train": [], "val": [], "test": [0]}


def test_partition_sorted_and_interleaved_labels():
    labels = [i % 3 for i in range(30)]  # Classes interleaved, 10 each.
    split = stratified_split(labels, seed=3)
    everything = split["train"] + split["val"] + split["test"]
    assert sorted(everything) == list(range(30))  # Disjoint and complete.
    for indices in split.values():
        assert indices == sorted(indices)
    assert _counts(labels, split)["test"] == {0: 2, 1: 2, 2: 2}


def test_deterministic_and_seed_dependent():
    labels = [0] * 50 + [1] * 50
    assert stratified_split(labels, seed=1) == stratified_split(labels, seed=1)
    assert (
        stratified_split(labels, seed=1)["test"]
        != stratified_split(labels, seed=2)["test"]
    )


@pytest.mark.parametrize(
    "fractions", [(0.7, 0.2, 0.2), (0.5, 0.5), (1.2, -0.1, -0.1)]
)
def test_bad_fractions_named(fractions):
    with pytest.raises(ValueError, match=r"Received: fractions="):
        stratified_split([0, 1], fractions)
