"""Paired differences and standard errors of `comparison`, by hand."""

import dataclasses
import math

import pytest

from keras_gs.experiment import comparison
from keras_gs.experiment.tables import ResultsTable

# Two targets, three trials. Trial averages:
#   erm:     (0.8+0.6)/2 = 0.7, (0.9+0.7)/2 = 0.8, (0.6+0.4)/2 = 0.5
#   agr-sum: (0.7+0.5)/2 = 0.6, (0.8+0.8)/2 = 0.8, (0.5+0.3)/2 = 0.4
TABLE = ResultsTable(
    dataset="d",
    selection="best_val",
    surgeries=["erm", "agr-sum"],
    domains=["a", "b"],
    accuracies={
        ("erm", "a"): {0: 0.8, 1: 0.9, 2: 0.6},
        ("erm", "b"): {0: 0.6, 1: 0.7, 2: 0.4},
        ("agr-sum", "a"): {0: 0.7, 1: 0.8, 2: 0.5},
        ("agr-sum", "b"): {0: 0.5, 1: 0.8, 2: 0.3},
    },
)


def test_average_is_over_trials_of_target_means():
    estimate = comparison.average(TABLE, "erm")
    # mean 2/3; squared deviations of (0.7, 0.8, 0.5) sum to 0.14/3, so
    # std = sqrt(0.14/6) = 0.1527525 and the standard error 0.0881917.
    assert estimate.n == 3
    assert estimate.mean == pytest.approx(2 / 3)
    assert estimate.stderr == pytest.approx(math.sqrt(0.14 / 6 / 3))


def test_difference_is_paired_by_trial():
    # Differences -0.1, 0.0, -0.1: mean -1/15, std sqrt(1/300) = 0.0577350.
    estimate = comparison.paired_difference(TABLE, "agr-sum", "erm")
    assert estimate.mean == pytest.approx(-1 / 15)
    assert estimate.stderr == pytest.approx(math.sqrt(1 / 300) / math.sqrt(3))
    # Unpaired, the same two means would have a standard error of about
    # 0.15: pairing removes the trial-to-trial noise both rules share.
    assert estimate.stderr < 0.04


def test_unfinished_trials_are_left_out_of_both_sides():
    table = dataclasses.replace(
        TABLE,
        accuracies={
            **TABLE.accuracies,
            # Trial 2 of agr-sum has not finished target b.
            ("agr-sum", "b"): {0: 0.5, 1: 0.8},
        },
    )
    assert comparison.average(table, "agr-sum").n == 2
    estimate = comparison.paired_difference(table, "agr-sum", "erm")
    assert (estimate.n, estimate.mean) == (2, pytest.approx(-0.05))


def test_markdown_shows_both_regimes():
    text = comparison.markdown({"scratch": TABLE, "tuned": TABLE})
    assert "| agr-sum | 60.0 ± 11.5 (3) | -6.7 ± 3.3 (3) |" in text
    assert "| erm | 66.7 ± 8.8 (3) | – |" in text
    assert text.splitlines()[0].count("scratch") == 2
