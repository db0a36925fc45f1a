"""A results.json whose selection disagrees with its own history is left
out by name, not tabled (issue 31, item 3)."""

import os

from keras_gs.experiment import files
from keras_gs.experiment import tables

from test_experiment_tables import write_run


def test_a_hand_edited_selection_is_left_out_by_name(tmp_path):
    root = str(tmp_path / "runs")
    write_run(root, "erm", "a", 0, 0.233, 0.5)
    write_run(root, "erm", "a", 1, 0.4, 0.5)
    edited = files.RunPaths.of(root, "toy", "erm", "a", 0).results
    results = files.read_json(edited)
    results["selection"]["best_val"]["test_accuracy"] = 0.95
    files.write_json(edited, results)
    problems = []
    (table,) = tables.collect(root, "best_val", problems)
    # Only trial 1 is tabled (40.0), not 95.0.
    assert table.accuracies == {("erm", "a"): {1: 0.4}}
    assert problems == [
        f"{edited}: its selection disagrees with its history (best_val "
        "test_accuracy 0.95 recorded, 0.233 in the history): edited by "
        f"hand? Left out; remove {os.path.dirname(edited)} to run it again."
    ]


def test_a_consistent_selection_is_read_from_the_history(tmp_path):
    root = str(tmp_path / "runs")
    write_run(root, "erm", "a", 0, 0.233, 0.5)
    problems = []
    (table,) = tables.collect(root, "oracle", problems)
    # Oracle is not recorded by write_run: derived (target val 0.2 at 20).
    assert table.accuracies == {("erm", "a"): {0: 0.5}}
    assert problems == []
