"""The results table from hand-written results.json files."""

import os

import pytest

from keras_gs.experiment import files
from keras_gs.experiment import tables


def write_run(workdir, surgery, domain, trial, best, last, dataset="toy"):
    history = [
        {
            "step": 10,
            "source_val_accuracy": 0.9,
            "target_val_accuracy": 0.1,
            "target_test_accuracy": best,
        },
        {
            "step": 20,
            "source_val_accuracy": 0.5,
            "target_val_accuracy": 0.2,
            "target_test_accuracy": last,
        },
    ]
    paths = files.RunPaths.of(workdir, dataset, surgery, domain, trial)
    files.write_json(
        paths.results,
        {
            "dataset": dataset,
            "surgery": surgery,
            "test_domain": domain,
            "trial": trial,
            "domains": ["b", "a"],
            "history": history,
            "selection": {
                "best_val": {"step": 10, "test_accuracy": best},
                "last": {"step": 20, "test_accuracy": last},
            },
        },
    )


@pytest.fixture
def workdir(tmp_path):
    root = str(tmp_path / "runs")
    # erm: a in trials 0, 1; b in trials 0, 1 -> two complete trials.
    write_run(root, "erm", "a", 0, 0.60, 0.50)
    write_run(root, "erm", "a", 1, 0.80, 0.50)
    write_run(root, "erm", "b", 0, 0.40, 0.50)
    write_run(root, "erm", "b", 1, 0.60, 0.50)
    # agr-sum: only trial 0 of domain a.
    write_run(root, "agr-sum", "a", 0, 0.70, 0.20)
    # A run still going has no results.json: not counted.
    os.makedirs(os.path.join(root, "toy", "erm", "a", "trial_2"))
    return root


def test_cells_by_hand(workdir):
    (table,) = tables.collect(workdir)
    assert table.dataset == "toy"
    assert table.surgeries == ["erm", "agr-sum"]  # the baseline first
    assert table.domains == ["b", "a"]  # the dataset's order
    mean, std, n = table.cell("erm", "a")
    assert (round(mean, 9), round(std, 9), n) == (0.7, round(0.02**0.5, 9), 2)
    # Per-trial averages 0.5 and 0.7: mean 0.6, std sqrt(0.02).
    mean, std, n = table.cell("erm", "avg")
    assert (round(mean, 9), round(std, 9), n) == (0.6, round(0.02**0.5, 9), 2)
    assert table.cell("agr-sum", "a") == (0.7, None, 1)
    assert table.cell("agr-sum", "b") == (None, None, 0)
    assert table.cell("agr-sum", "avg") == (None, None, 0)


def test_markdown_latex_and_files(workdir):
    found = tables.collect(workdir)
    text = tables.markdown(found)
    assert "| surgery | b | a | avg |" in text
    assert (
        "| erm | 50.0 ± 14.1 (2) | 70.0 ± 14.1 (2) | 60.0 ± 14.1 (2) |" in text
    )
    assert "| agr-sum | – | 70.0 (1) | – |" in text
    latex = found[0].latex()
    assert (
        r"erm & $50.0 \pm 14.1$ & $70.0 \pm 14.1$ & $60.0 \pm 14.1$ \\" in latex
    )
    paths = tables.write_reports(workdir, found)
    assert [os.path.basename(p) for p in paths] == [
        "results.md",
        "results.tex",
        "results.png",
    ]
    with open(paths[2], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Nothing half-written left beside them.
    assert not [f for f in os.listdir(workdir) if f.startswith(".")]


def test_other_rules_and_recomputed_selection(workdir):
    (table,) = tables.collect(workdir, "last")
    assert table.cell("agr-sum", "a") == (0.2, None, 1)
    # "oracle" is not in the hand-written files: computed from the history
    # (the highest target val, 0.2 at step 20).
    (table,) = tables.collect(workdir, "oracle")
    assert table.cell("agr-sum", "a") == (0.2, None, 1)


def test_errors_and_empty(tmp_path):
    with pytest.raises(ValueError, match=r"selection='best'.*oracle"):
        tables.collect(str(tmp_path), "best")
    with pytest.raises(FileNotFoundError, match="missing"):
        tables.collect(str(tmp_path / "missing"))
    assert tables.collect(str(tmp_path)) == []
    assert tables.write_reports(str(tmp_path), []) == []
    assert "No finished run" in tables.markdown([])

