"""tools/bench_stats.py against values worked out by hand."""

import sys
from pathlib import Path

import pytest

# The tools are scripts, not a package: import from their folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench_stats  # noqa: E402


def test_pair_ratios_divide_pair_by_pair():
    assert bench_stats.pair_ratios([2.0, 3.0, 5.0], [1.0, 2.0, 4.0]) == [
        2.0,
        1.5,
        1.25,
    ]


def test_pair_ratios_refuse_unpaired_lists():
    with pytest.raises(ValueError, match="one reference per pair"):
        bench_stats.pair_ratios([1.0, 2.0], [1.0])


def test_median_odd_and_even():
    assert bench_stats.median([1, 2, 3, 4, 5]) == 3.0
    assert bench_stats.median([5, 1, 4, 2]) == 3.0


def test_constant_ratios_give_a_zero_width_interval():
    assert bench_stats.bootstrap_interval([1.07] * 50) == (1.07, 1.07)


def test_interval_brackets_the_median_and_stays_in_range():
    ratios = [1.0, 2.0, 3.0, 4.0, 5.0]
    low, high = bench_stats.bootstrap_interval(ratios, resamples=2000, seed=0)
    assert 1.0 <= low <= 3.0 <= high <= 5.0
    assert low < high


def test_interval_is_repeatable_from_its_seed():
    ratios = [0.9, 1.0, 1.1, 1.3, 0.95, 1.02]
    first = bench_stats.bootstrap_interval(ratios, seed=3)
    assert bench_stats.bootstrap_interval(ratios, seed=3) == first


def test_one_value_interval_is_that_value():
    assert bench_stats.bootstrap_interval([2.5]) == (2.5, 2.5)


@pytest.mark.parametrize(
    "low, high, target, expected",
    [
        (1.00, 1.04, 1.05, "meets"),
        (1.00, 1.05, 1.05, "meets"),  # at the target counts as meeting it
        (1.06, 1.20, 1.05, "misses"),
        (1.03, 1.08, 1.05, "undecided"),
        (1.05, 1.08, 1.05, "undecided"),  # touches the target from above
        (0.50, 9.00, None, "no target"),
    ],
)
def test_verdict(low, high, target, expected):
    assert bench_stats.verdict(low, high, target) == expected


def test_summarize_constant_ratios():
    summary = bench_stats.summarize([1.2] * 10, target=1.1)
    assert summary == bench_stats.Summary(1.2, 1.2, 1.2, "misses")
