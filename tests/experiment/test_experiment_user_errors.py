"""Nothing silently wrong: unlike runs never share a table, diverged runs
are marked, damaged files and bad data are named before training.

Each case as a user met it (issue 21), through the experiment's API; the
tool's one-line output for these errors is `train.py`'s `prepare` (see
test_experiment_bad_inputs.py).
"""

import dataclasses
import hashlib
import os
import re
import subprocess
import sys

import pytest

from keras_gs import data
from keras_gs import experiment
from keras_gs.experiment import errors
from keras_gs.experiment import files
from keras_gs.experiment import tables

from disk_faults import tmpfs
from run_checks import quiet
from run_checks import run_paths
from run_checks import tiny_config
from tool_helpers import COLLECT
from tool_helpers import run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from image_files import make_tree  # noqa: E402
from image_files import write_bad  # noqa: E402


def write_run(workdir, surgery, steps, lr=1e-3, accuracy=0.5, domain="75"):
    """A finished run's files, as a run of `steps` steps writes them."""
    config = tiny_config(
        workdir,
        surgery=(surgery,),
        steps=steps,
        lr=lr,
        test_domains=(domain,),
    )
    paths = run_paths(config)
    files.write_json(paths.config, {**config.to_dict(), "trial": 0})
    entry = {
        "step": steps,
        "source_val_accuracy": accuracy,
        "target_val_accuracy": accuracy,
        "target_test_accuracy": accuracy,
    }
    files.write_json(
        paths.results,
        {
            "dataset": "rotated_digits",
            "surgery": surgery,
            "test_domain": domain,
            "trial": 0,
            "history": [entry],
            "settings": config.result_settings(),
        },
    )
    return paths


def test_runs_with_other_settings_get_tables_of_their_own(tmp_path):
    write_run(tmp_path, "erm", steps=200, accuracy=0.55)
    write_run(tmp_path, "agr-sum", steps=20, lr=0.01, accuracy=0.25)
    found = tables.collect(str(tmp_path))
    assert len(found) == 2
    titles = {t.title() for t in found}
    assert titles == {
        "rotated_digits (lr=0.001, steps=200): target test accuracy (%), "
        "best_val selection",
        "rotated_digits (lr=0.01, steps=20): target test accuracy (%), "
        "best_val selection",
    }
    for table in found:
        assert len(table.surgeries) == 1


@pytest.mark.parametrize(
    "damage, reason",
    [
        (
            "copied",
            "made with other settings than its config.json (steps=200 there, "
            "20 in config.json)",
        ),
        ("empty results", "not a valid results file"),
        ("{} results", "lacks dataset, surgery, test_domain, trial, history"),
        ("list config", "a JSON list, not an object"),
        ("null config", "a JSON NoneType, not an object"),
        ("other run", "is the run rotated_digits/agr-sum/75/trial_0, not"),
    ],
)
def test_damaged_or_foreign_run_files_are_named(tmp_path, damage, reason):
    good = write_run(tmp_path, "pcgrad", steps=20, accuracy=0.9)
    paths = write_run(tmp_path, "erm", steps=20)
    bad = {
        "empty results": (paths.results, ""),
        "{} results": (paths.results, "{}"),
        "list config": (paths.config, "[]"),
        "null config": (paths.config, "null"),
    }
    if damage == "copied":
        # A finished 200-step run's results copied into a 20-step run.
        other = write_run(tmp_path / "other", "erm", steps=200)
        with open(other.results) as f:
            text = f.read()
        with open(paths.results, "w") as f:
            f.write(text)
    elif damage == "other run":
        other = write_run(tmp_path / "other", "agr-sum", steps=20)
        with open(other.results) as f:
            text = f.read()
        with open(paths.results, "w") as f:
            f.write(text)
    else:
        path, text = bad[damage]
        with open(path, "w") as f:
            f.write(text)
    problems = []
    (table,) = tables.collect(str(tmp_path), problems=problems)
    # The others are tabled.
    assert table.surgeries == ["pcgrad"]
    assert good.root.endswith("pcgrad/75/trial_0")
    (line,) = problems
    assert reason in line and "Remove " in line
    assert paths.root in line
    # Re-running refuses the directory, naming the file.
    with pytest.raises(errors.InputError, match=re.escape(reason)):
        experiment.Experiment(tiny_config(tmp_path, steps=20))


def test_results_json_of_an_older_version_is_read(tmp_path):
    # No "settings", "selection" or "domains": from config.json and the
    # history.
    paths = write_run(tmp_path, "erm", steps=20, accuracy=0.7)
    result = files.read_json(paths.results)
    del result["settings"]
    files.write_json(paths.results, result)
    (table,) = tables.collect(str(tmp_path))
    assert table.cell("erm", "75")[0] == pytest.approx(0.7)


def test_a_table_with_an_empty_cell_value_still_writes(tmp_path):
    write_run(tmp_path, "erm", steps=20, accuracy=float("nan"))
    write_run(tmp_path, "erm", steps=20, accuracy=0.4, domain="0")
    found = tables.collect(str(tmp_path))
    assert "| erm | 40.0 (1) | – | – |" in tables.markdown(found) or (
        "| erm | – | 40.0 (1) | – |" in tables.markdown(found)
    )


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "tree", ["a", "b", "c"], ["c0", "c1"], 6)


def folder_config(workdir, root, **overrides):
    settings = dict(
        dataset="folder",
        data_dir=str(root),
        image_size=(16,),
        test_domains=("a",),
        steps=10,
    )
    return tiny_config(workdir, **{**settings, **overrides})


def test_domain_names_that_share_a_run_directory(tmp_path):
    root = make_tree(tmp_path / "tree", ["x y", "x_y", "z"], ["c0"], 6)
    with pytest.raises(ValueError, match=r"'x y' and 'x_y' would share"):
        experiment.Experiment(
            folder_config(tmp_path / "runs", root, test_domains=("z",))
        )


def test_an_exact_domain_name_wins_over_a_lookalike(tmp_path):
    root = make_tree(tmp_path / "tree", ["Photo", "photo", "c"], ["c0"], 6)
    splits = data.load("folder", root, test_domains="Photo", image_size=8)
    assert splits.test_domains == ["Photo"]
    with pytest.raises(ValueError, match=r"'PHOTO' matches.*Photo.*photo"):
        data.load("folder", root, test_domains="PHOTO", image_size=8)


def test_a_target_without_test_examples_is_refused(tmp_path):
    root = make_tree(
        tmp_path / "tree", ["a", "b"], ["c0", "c1"], {"c0": 2, "c1": 2}
    )
    make_tree(tmp_path / "tree", ["c"], ["c0", "c1"], 6)
    config = folder_config(tmp_path / "runs", root, test_domains="all")
    with pytest.raises(
        ValueError, match=r"Domain 'a' has no test example .*train/val/test"
    ):
        experiment.Experiment(config)
    assert not os.path.exists(tmp_path / "runs")


def test_one_domain_only(tmp_path):
    root = make_tree(tmp_path / "tree", ["only"], ["c0", "c1"], 6)
    with pytest.raises(ValueError, match="needs at least 2 domains"):
        experiment.Experiment(
            folder_config(tmp_path / "runs", root, test_domains="all")
        )


def test_lr_must_be_finite():
    for lr in (float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(ValueError, match=r"`lr` must be finite and > 0"):
            experiment.ExperimentConfig(lr=lr).validate()


def test_a_diverged_run_is_marked_everywhere(tmp_path, capsys):
    config = tiny_config(tmp_path, lr=1e9, steps=20)
    experiment.Experiment(config).run(
        progress=experiment.Progress(1, 20, interval=1e9)
    )
    result = files.read_json(run_paths(config).results)
    assert result["diverged"], result["history"]
    assert "DIVERGED" in capsys.readouterr().out
    (table,) = tables.collect(str(tmp_path))
    text = table.markdown()
    assert "†" in text and "diverged" in text
    # A period where every step was skipped has no training averages.
    skipped = [e for e in result["history"] if e["skipped_steps"] == 10]
    assert skipped and all(e["train"]["loss"] is None for e in skipped)


def test_images_the_decoder_cannot_read_are_named(tmp_path, tree):
    bad = write_bad(os.path.join(tree, "b", "c0", "zz.png"), "empty")
    config = folder_config(tmp_path / "runs", tree, check_images="none")
    with pytest.raises(errors.InputError, match=rf"{bad}.*check_images"):
        experiment.Experiment(config).run(progress=quiet())
    # Checked before training, or left out on request.
    checked = dataclasses.replace(
        config, check_images="header", workdir=str(tmp_path / "checked")
    )
    with pytest.raises(ValueError, match=r"(?s)zz.png.*on_bad_image='skip'"):
        experiment.Experiment(checked)
    skipping = experiment.Experiment(
        dataclasses.replace(checked, on_bad_image="skip")
    )
    assert skipping.targets == ["a"]


def checksums(root):
    return {
        os.path.join(d, f): hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
        for d, _, names in os.walk(root)
        for f in names
    }


def test_a_full_disk_fails_with_the_path_and_keeps_earlier_results(tmp_path):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        config = tiny_config(disk, steps=10)
        experiment.Experiment(config).run(progress=quiet())
        before = checksums(disk)
        # Leave 40 KB: the next run's weights (~210 KB) do not fit.
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        with open(disk / "filler", "wb") as f:
            f.write(b"\0" * (free - 40 * 1024))
        before = checksums(disk)
        with pytest.raises(OSError, match=rf"{disk}"):
            experiment.Experiment(
                dataclasses.replace(config, surgery=("agr-sum",))
            ).run(progress=quiet())
        after = checksums(disk)
        assert {p: after.get(p) for p in before} == before


def test_a_read_only_work_directory_is_refused_before_training(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(OSError, match=rf"Cannot write to the work directory {disk}"):
            experiment.Experiment(tiny_config(disk, steps=10))


def test_collect_results_on_a_read_only_directory_prints_then_fails(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        write_run(disk, "erm", steps=20, accuracy=0.5)
        paths = write_run(disk, "pcgrad", steps=20)
        with open(paths.results, "w") as f:
            f.write("{")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        done = run(COLLECT, str(disk), timeout=120)
    assert done.returncode == 2, done
    assert "| erm | 50.0 (1) |" in done.stdout
    assert f"- {paths.results} is not a valid results file" in done.stdout
    assert done.stderr.startswith("collect_results.py: error: cannot write")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
