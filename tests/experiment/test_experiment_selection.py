"""Selection rules on a hand-written history."""

import math

import pytest

from keras_gs.experiment import selection


def entry(step, source_val, target_val, test):
    return {
        "step": step,
        "source_val_accuracy": source_val,
        "target_val_accuracy": target_val,
        "target_test_accuracy": test,
    }


# Source val peaks at steps 40 and 80 (a tie: the earliest, 40, wins);
# target val peaks at step 60; the last step is 100.
HISTORY = [
    entry(20, 0.50, 0.40, 0.30),
    entry(40, 0.90, 0.50, 0.61),
    entry(60, 0.80, 0.95, 0.72),
    entry(80, 0.90, 0.60, 0.83),
    entry(100, 0.85, 0.70, 0.64),
]


@pytest.mark.parametrize(
    "rule, step, test",
    [("best_val", 40, 0.61), ("oracle", 60, 0.72), ("last", 100, 0.64)],
)
def test_each_rule(rule, step, test):
    assert selection.select(HISTORY, rule) == {
        "rule": rule,
        "step": step,
        "test_accuracy": test,
    }


def test_select_all_and_default():
    chosen = selection.select_all(HISTORY)
    assert list(chosen) == list(selection.RULES)
    assert selection.select(HISTORY) == chosen["best_val"]


def test_nan_and_missing_accuracies_are_never_picked():
    history = [
        entry(20, float("nan"), None, 0.1),
        entry(40, 0.2, 0.3, 0.2),
        entry(60, 0.1, float("nan"), 0.3),
    ]
    assert selection.select(history, "best_val")["step"] == 40
    assert selection.select(history, "oracle")["step"] == 40
    all_nan = [
        entry(20, math.nan, math.nan, 0.5),
        entry(40, math.nan, math.nan, 0.7),
    ]
    assert selection.select(all_nan, "best_val")["step"] == 40


def test_bad_rule_and_empty_history():
    with pytest.raises(ValueError, match=r"selection='best'.*best_val"):
        selection.select(HISTORY, "best")
    with pytest.raises(ValueError, match="empty"):
        selection.select([], "last")
