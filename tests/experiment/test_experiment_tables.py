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



@pytest.fixture
def three_trials(tmp_path):
    """3 trials x 2 domains, asymmetric: the avg cell is not the mean of
    the per-domain means' spread."""
    root = str(tmp_path / "runs")
    values = {"a": (0.6, 0.8, 0.9), "b": (0.2, 0.3, 0.7)}
    for domain, accuracies in values.items():
        for trial, accuracy in enumerate(accuracies):
            write_run(root, "erm", domain, trial, accuracy, 0.5)
    # pcgrad: 3 trials of a, but only trials 0 and 2 of b.
    for trial, accuracy in enumerate((0.5, 0.6, 0.7)):
        write_run(root, "pcgrad", "a", trial, accuracy, 0.5)
    write_run(root, "pcgrad", "b", 0, 0.1, 0.5)
    write_run(root, "pcgrad", "b", 2, 0.3, 0.5)
    return root


def test_avg_is_over_trials_of_per_trial_means(three_trials):
    (table,) = tables.collect(three_trials)
    # By hand: per-trial means over domains (0.6+0.2)/2 = 0.4,
    # (0.8+0.3)/2 = 0.55, (0.9+0.7)/2 = 0.8; their mean 1.75/3 = 0.58333;
    # deviations -0.18333, -0.03333, 0.21667, squares 0.0336111,
    # 0.0011111, 0.0469444, sum 0.0816667 / (3 - 1) = 0.0408333, std
    # 0.2020726. (Per-domain means first, 0.76667 and 0.4, would give std
    # 0.2593 over n = 2.)
    mean, std, n = table.cell("erm", "avg")
    assert n == 3
    assert mean == pytest.approx(0.5833333, abs=1e-6)
    assert std == pytest.approx(0.2020726, abs=1e-6)
    # pcgrad: only trials 0 and 2 finished both domains: per-trial means
    # (0.5+0.1)/2 = 0.3 and (0.7+0.3)/2 = 0.5; mean 0.4, std
    # sqrt(2 * 0.1**2 / 1) = 0.1414214.
    mean, std, n = table.cell("pcgrad", "avg")
    assert (n, mean) == (2, pytest.approx(0.4))
    assert std == pytest.approx(0.1414214, abs=1e-6)


def test_latex_header_and_rows_in_one_column_order(three_trials):
    (table,) = tables.collect(three_trials)
    lines = table.latex().splitlines()
    header = next(line for line in lines if line.startswith("Surgery &"))
    columns = [c.strip() for c in header.removesuffix(r" \\").split("&")][1:]
    assert columns == ["b", "a", "Avg"]
    rows = [
        line
        for line in lines
        if line.split(" & ")[0] in table.surgeries and "&" in line
    ]
    assert [r.split(" & ")[0] for r in rows] == table.surgeries
    for row in rows:
        surgery, *cells = [c.strip() for c in row.removesuffix(r" \\").split("&")]
        assert len(cells) == len(columns)
        for column, cell in zip(columns, cells):
            mean, std, _ = table.cell(surgery, column.lower())
            assert cell == f"${100 * mean:.1f} \\pm {100 * std:.1f}$", (
                surgery,
                column,
            )


def test_markdown_header_and_rows_in_one_column_order(three_trials):
    (table,) = tables.collect(three_trials)
    lines = table.markdown().splitlines()
    header = next(line for line in lines if line.startswith("| surgery |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    assert columns == ["b", "a", "avg"]
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] not in table.surgeries:
            continue
        for column, cell in zip(columns, cells[1:]):
            mean, std, n = table.cell(cells[0], column)
            assert cell == f"{100 * mean:.1f} ± {100 * std:.1f} ({n})"
