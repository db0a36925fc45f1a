"""End to end: tools/train.py on rotated_digits and on a folder tree.

The tools run as subprocesses, as a user runs them; each run is a few
steps, so that the module takes well under a minute on 2 CPU cores.
"""

import dataclasses
import json
import os
import sys

import pytest
from tensorboard.backend.event_processing import event_accumulator

import keras_gs
from keras_gs import experiment
from keras_gs.experiment import files
from keras_gs.experiment import selection

from tool_helpers import COLLECT
from tool_helpers import TRAIN
from tool_helpers import finish
from tool_helpers import run
from tool_helpers import start

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from image_files import make_tree  # noqa: E402

TINY_DIGITS = [
    "--surgery=erm,agr-rand",
    "--test_domains=75",
    "--steps=40",
    "--eval_every=20",
    "--checkpoint_every=20",
    "--backup_every=20",
    "--conflicts_every=20",
    "--deterministic",
]
ENTRY_KEYS = {
    "step",
    "source_val_accuracy",
    "target_val_accuracy",
    "target_test_accuracy",
    "train",
    "skipped_steps",
    "train_seconds",
    "wall_time",
}
RESULT_KEYS = {
    "dataset",
    "surgery",
    "test_domain",
    "trial",
    "trial_seed",
    "source_domains",
    "domains",
    "num_classes",
    "sizes",
    "history",
    "selection",
    "steps",
    "skipped_steps",
    "wall_time",
    "resumed_from",
    "finished",
    "timing",
}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The same tiny command twice, in two work directories, at once."""
    workdirs = [tmp_path_factory.mktemp(f"digits_{i}") for i in (0, 1)]
    processes = [start(TRAIN, *TINY_DIGITS, f"--workdir={w}") for w in workdirs]
    return workdirs, [finish(p) for p in processes]


def run_dir(workdir, surgery, domain="75", dataset="rotated_digits"):
    return files.RunPaths.of(str(workdir), dataset, surgery, domain, 0)


def test_digits_prints_the_table_quietly(digits):
    (workdir, _), (done, _) = digits
    assert done.returncode == 0, done.stderr
    assert "| surgery | 75 | avg |" in done.stdout
    assert "| erm |" in done.stdout and "| agr-rand |" in done.stdout
    assert "[2/2] agr-rand/75/trial_0 done" in done.stdout
    assert "Wall time" in done.stdout and "tracing" in done.stdout
    # Neither TensorFlow's start-up lines nor Keras's warnings.
    assert done.stderr.strip() == "", done.stderr


def test_digits_run_files(digits):
    (workdir, _), _ = digits
    for surgery in ("erm", "agr-rand"):
        paths = run_dir(workdir, surgery)
        config = files.read_json(paths.config)
        assert config["surgery"] == [surgery] and config["steps"] == 40
        with open(paths.flags) as f:
            assert f"--surgery={surgery}\n" in f.read()
        results = files.read_json(paths.results)
        assert set(results) == RESULT_KEYS
        assert results["steps"] == 40 and results["resumed_from"] == []
        assert results["source_domains"] == ["0", "15", "30", "45", "60"]
        assert [e["step"] for e in results["history"]] == [20, 40]
        for entry in results["history"]:
            assert set(entry) == ENTRY_KEYS
            for key in (
                "source_val_accuracy",
                "target_val_accuracy",
                "target_test_accuracy",
            ):
                assert 0.0 <= entry[key] <= 1.0
            assert {"loss", "accuracy", "loss/0", "loss/60"} <= set(
                entry["train"]
            )
            assert ("agreement" in entry["train"]) == (surgery != "erm")
        assert results["selection"] == selection.select_all(results["history"])
        assert not os.path.exists(paths.backup)  # Finished: not needed.
        names = sorted(os.listdir(paths.checkpoints))
        assert names == [
            "best.weights.h5",
            "last.weights.h5",
            "step_20.weights.h5",
            "step_40.weights.h5",
        ]
        network = keras_gs.backbones.get("small_cnn", (28, 28, 1), 10)
        for name in names:
            network.load_weights(os.path.join(paths.checkpoints, name))


def test_digits_tensorboard(digits):
    (workdir, _), _ = digits
    root = run_dir(workdir, "agr-rand").root
    events = event_accumulator.EventAccumulator(root)
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "train/accuracy",
        "train/agreement",
        "train/cosine",
        "domain_loss/0",
        "domain_loss/60",
        "eval/source_val_accuracy",
        "eval/target_val_accuracy",
        "eval/target_test_accuracy",
        "selected/best_val_test_accuracy",
    } <= tags
    assert [e.step for e in events.Scalars("eval/target_test_accuracy")] == [
        20,
        40,
    ]
    # The run's settings, for TensorBoard's HParams dashboard.
    (content,) = events.PluginTagToContent("hparams").values()
    assert b"agr-rand" in content and b"small_cnn" in content


def test_digits_reports_and_collect_results(digits):
    (workdir, _), _ = digits
    for name in ("results.md", "results.tex", "results.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0
    done = run(COLLECT, workdir, "--selection=oracle")
    assert done.returncode == 0, done.stderr
    assert "oracle selection" in done.stdout
    with open(os.path.join(workdir, "results.md")) as f:
        assert "oracle selection" in f.read()


def test_digits_conflicts_in_tensorboard(digits):
    (workdir, _), _ = digits
    conflicts = os.path.join(run_dir(workdir, "agr-rand").root, "conflicts")
    events = event_accumulator.EventAccumulator(conflicts, size_guidance={})
    events.Reload()
    tags = set(events.Tags()["scalars"]) | set(events.Tags()["tensors"])
    for layer in ("conv1", "conv2", "fc1", "logits"):
        assert f"conflicts/{layer}/agreement" in tags
        assert f"conflicts/{layer}/replaced" in tags
    steps = [e.step for e in events.Tensors("conflicts/conv1/agreement")] or [
        e.step for e in events.Scalars("conflicts/conv1/agreement")
    ]
    # The optimizer steps whose gradients were measured: 0 (the initial
    # weights) and 20.
    assert steps == [0, 20]
    # ERM has one gradient: nothing to compare, nothing written.
    assert not os.path.exists(
        os.path.join(run_dir(workdir, "erm").root, "conflicts")
    )


def test_deterministic_runs_give_the_same_numbers(digits):
    workdirs, _ = digits
    for surgery in ("erm", "agr-rand"):
        first, second = (
            files.read_json(run_dir(w, surgery).results)["history"]
            for w in workdirs
        )
        for a, b in zip(first, second):
            for key in (
                "source_val_accuracy",
                "target_val_accuracy",
                "target_test_accuracy",
            ):
                assert a[key] == b[key], (surgery, key)
            assert a["train"].keys() == b["train"].keys()
            for key, value in a["train"].items():
                # Training averages agree to float32 rounding: multi-threaded
                # reductions (agr-rand's noise scale, the cosine's Gram
                # matrix) may sum in another order (seen: 2e-7 relative on
                # agr-rand's loss, 1e-6 on a cosine of 0.05).
                assert value == pytest.approx(
                    b["train"][key], rel=1e-5, abs=1e-5
                ), (surgery, key)


def test_surgeries_share_the_trial_seed(digits):
    (workdir, _), _ = digits
    seeds = {
        files.read_json(run_dir(workdir, s).config)["trial_seed"]
        for s in ("erm", "agr-rand")
    }
    assert len(seeds) == 1


def test_rerun_skips_finished_runs(digits):
    (workdir, _), _ = digits
    paths = run_dir(workdir, "erm")
    with open(paths.results, "rb") as f:
        before = f.read()
    # The same settings (train.py's defaults but for TINY_DIGITS), in
    # this process: nothing left to train.
    config = experiment.ExperimentConfig(
        surgery=("erm", "agr-rand"),
        test_domains=("75",),
        steps=40,
        checkpoint_every=20,
        backup_every=20,
        workdir=str(workdir),
        deterministic=False,
    )
    runner = experiment.Experiment(config)
    assert runner.finished == runner.runs and len(runner.runs) == 2
    summary = runner.run(progress=experiment.Progress(0, 40))
    assert summary.results == {} and len(summary.skipped) == 2
    assert "| erm |" in summary.markdown
    with open(paths.results, "rb") as f:
        assert f.read() == before
    # Other settings in the same work directory: refused, not mixed.
    with pytest.raises(ValueError, match=r"steps=40 there, 60 now"):
        experiment.Experiment(dataclasses.replace(config, steps=60))


def test_folder_tree(tmp_path):
    root = make_tree(tmp_path / "tree", ["a", "b", "c"], ["cat", "dog"], 10)
    workdir = tmp_path / "runs"
    done = run(
        TRAIN,
        "--dataset=folder",
        f"--data_dir={root}",
        "--image_size=16",
        "--surgery=agr-sum",
        "--test_domains=c",
        "--batch_size=4",
        "--steps=20",
        "--eval_every=10",
        "--nodeterministic",
        f"--workdir={workdir}",
    )
    assert done.returncode == 0, done.stderr
    assert "| agr-sum |" in done.stdout
    paths = run_dir(workdir, "agr-sum", "c", "folder")
    results = files.read_json(paths.results)
    assert results["source_domains"] == ["a", "b"]
    assert results["sizes"] == {
        "train": {"a": 14, "b": 14},
        "source_val": 4,
        "target_val": 2,
        "target_test": 4,
    }
    assert [e["step"] for e in results["history"]] == [10, 20]
    assert os.path.exists(paths.best_weights)
    assert os.path.exists(os.path.join(workdir, "results.png"))
    assert json.load(open(paths.config))["dataset"] == "folder"
