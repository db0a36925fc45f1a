"""Selection over hyper-parameters, and mean ± standard error, by hand."""

import math

import pytest

from keras_gs.sweeps import selection
from keras_gs.sweeps.selection import Record
from keras_gs.sweeps.tables import SweepTable
from keras_gs.sweeps.tables import text


def run(index, history, target="A", trial=0, surgery="erm", excluded=()):
    return Record(
        surgery, target, trial, index, history, {"lr": index}, excluded
    )


# One search (erm, target A, trial 0), three configurations.
# Each history entry: (step, source val, target val, target test).
CONFIG_0 = [
    (10, 0.70, 0.40, 0.50),
    (20, 0.80, 0.45, 0.55),
    (30, 0.75, 0.90, 0.60),
]
# Source val 0.80 at step 10 and 20: the earliest (10) is its best step, a
# tie with configuration 0's 0.80: configuration 0 (the lower index) wins.
CONFIG_1 = [
    (10, 0.80, 0.50, 0.65),
    (20, 0.80, 0.60, 0.70),
    (30, 0.60, 0.95, 0.75),
]
# The highest target val at the last step (0.95, a tie with configuration 1:
# configuration 1 wins), the lowest source val.
CONFIG_2 = [
    (10, 0.50, 0.99, 0.90),
    (20, 0.55, 0.50, 0.85),
    (30, 0.55, 0.95, 0.80),
]
SEARCH = [run(2, CONFIG_2), run(0, CONFIG_0), run(1, CONFIG_1)]


def test_training_domain_validation():
    choice = selection.select(SEARCH, "training_domain")[("erm", "A", 0)]
    assert (choice.index, choice.step) == (0, 20)
    assert (choice.validation, choice.test) == (0.80, 0.55)
    assert choice.hparams == {"lr": 0}


def test_training_domain_takes_each_run_at_its_best_step():
    # Configuration 1 alone: its best source val is 0.80, first at step 10.
    choice = selection.select([run(1, CONFIG_1)], "training_domain")
    assert (choice[("erm", "A", 0)].step, choice[("erm", "A", 0)].test) == (
        10,
        0.65,
    )


def test_test_domain_validation_is_the_last_step():
    choice = selection.select(SEARCH, "test_domain")[("erm", "A", 0)]
    # Not configuration 2's step 10 (0.99): one query per configuration.
    assert (choice.index, choice.step) == (1, 30)
    assert (choice.validation, choice.test) == (0.95, 0.75)


def test_nan_accuracies_are_never_chosen():
    nan = math.nan
    records = [
        # Nothing to choose from: configuration 0 is never chosen.
        run(0, [(10, nan, nan, 0.9)]),
        run(1, [(10, 0.3, 0.2, 0.4), (20, nan, 0.1, 0.5)]),
    ]
    by_rule = {
        rule: selection.select(records, rule)[("erm", "A", 0)]
        for rule in ("training_domain", "test_domain")
    }
    assert (
        by_rule["training_domain"].index,
        by_rule["training_domain"].step,
    ) == (1, 10)
    assert (by_rule["test_domain"].index, by_rule["test_domain"].step) == (
        1,
        20,
    )


def test_searches_are_separate():
    records = SEARCH + [
        run(0, CONFIG_2, target="B"),
        run(0, CONFIG_0, trial=1),
        run(0, CONFIG_1, surgery="pcgrad"),
    ]
    chosen = selection.select(records, "training_domain")
    assert set(chosen) == {
        ("erm", "A", 0),
        ("erm", "B", 0),
        ("erm", "A", 1),
        ("pcgrad", "A", 0),
    }
    assert chosen[("erm", "B", 0)].test == 0.85


def lodo_records():
    """Target A of domains A, B, C; two configurations. A run with
    `excluded=("A",)` and target B is trained on C alone, tested on B."""
    return [
        run(0, [(10, 0.9, 0.1, 0.50), (20, 0.9, 0.1, 0.60)]),
        run(1, [(10, 0.1, 0.9, 0.70), (20, 0.1, 0.9, 0.80)]),
        # Configuration 0: mean over B and C of (0.4, 0.6) = 0.5 at step 10,
        # of (0.3, 0.3) = 0.3 at step 20.
        run(0, [(10, 0, 0, 0.4), (20, 0, 0, 0.3)], target="B", excluded=("A",)),
        run(0, [(10, 0, 0, 0.6), (20, 0, 0, 0.3)], target="C", excluded=("A",)),
        # Configuration 1: (0.2, 0.4) = 0.3 at 10, (0.5, 0.6) = 0.55 at 20.
        run(1, [(10, 0, 0, 0.2), (20, 0, 0, 0.5)], target="B", excluded=("A",)),
        run(1, [(10, 0, 0, 0.4), (20, 0, 0, 0.6)], target="C", excluded=("A",)),
    ]


def test_leave_one_domain_out():
    chosen = selection.select(
        lodo_records(), "leave_one_domain_out", ["A", "B", "C"]
    )
    choice = chosen[("erm", "A", 0)]
    assert (choice.index, choice.step, choice.test) == (1, 20, 0.80)
    assert choice.validation == pytest.approx(0.55)
    # The runs holding out two domains are no search of their own.
    assert set(chosen) == {("erm", "A", 0)}


def test_leave_one_domain_out_needs_every_other_domain():
    records = [
        r for r in lodo_records() if not (r.index == 1 and r.target == "C")
    ]
    choice = selection.select(records, "leave_one_domain_out", ["A", "B", "C"])
    # Configuration 1 lacks its run without C: only configuration 0 counts.
    assert choice[("erm", "A", 0)].index == 0
    assert choice[("erm", "A", 0)].step == 10
    # Without any such run (the protocol's runs only), nothing is chosen.
    assert selection.select(SEARCH, "leave_one_domain_out", ["A", "B"]) == {}


def test_unknown_rule():
    with pytest.raises(
        ValueError, match="Unknown selection rule. Received: rule='best'"
    ):
        selection.select(SEARCH, "best")


def choice(test):
    return selection.Choice(index=0, step=10, validation=0.5, test=test)


# Two targets; trial 2 is missing for target B.
TABLE = SweepTable(
    dataset="digits",
    rule="training_domain",
    surgeries=["erm", "pcgrad"],
    targets=["A", "B"],
    choices={
        ("erm", "A", 0): choice(0.80),
        ("erm", "A", 1): choice(0.90),
        ("erm", "A", 2): choice(0.70),
        ("erm", "B", 0): choice(0.60),
        ("erm", "B", 1): choice(0.50),
        ("pcgrad", "A", 0): choice(0.40),
    },
)


def test_mean_and_standard_error_by_hand():
    # A: mean 0.8; std sqrt((0 + 0.01 + 0.01) / 2) = 0.1; SE 0.1 / sqrt(3).
    mean, error, n = TABLE.cell("erm", "A")
    assert (mean, n) == (pytest.approx(0.8), 3)
    assert error == pytest.approx(0.1 / math.sqrt(3))
    # B: mean 0.55; std sqrt(2 * 0.05^2 / 1) = 0.0707...; SE 0.05.
    assert TABLE.cell("erm", "B") == (
        pytest.approx(0.55),
        pytest.approx(0.05),
        2,
    )
    # avg: trials 0 and 1 have both targets: (0.7, 0.7) -> 0.7 ± 0.
    assert TABLE.cell("erm", "avg") == (
        pytest.approx(0.7),
        pytest.approx(0.0),
        2,
    )
    # One trial: no error; no trial: nothing.
    assert TABLE.cell("pcgrad", "A") == (0.4, None, 1)
    assert TABLE.cell("pcgrad", "B") == (None, None, 0)
    assert TABLE.cell("pcgrad", "avg") == (None, None, 0)


def test_table_text():
    assert text(*TABLE.cell("erm", "A")) == "80.0 ± 5.8 (3)"
    assert text(*TABLE.cell("pcgrad", "A")) == "40.0 (1)"
    assert text(*TABLE.cell("pcgrad", "B")) == "–"
    markdown = TABLE.markdown()
    assert "training-domain validation" in markdown
    assert (
        "| erm | 80.0 ± 5.8 (3) | 55.0 ± 5.0 (2) | 70.0 ± 0.0 (2) |" in markdown
    )
    assert "| pcgrad | 40.0 (1) | – | – |" in markdown
    latex = TABLE.latex()
    assert r"$80.0 \pm 5.8$ (3)" in latex and r"\toprule" in latex
    selected = TABLE.selected_markdown()
    assert "| erm | A | 2 | 0 | 10 | 50.0 | 70.0 |" in selected
