"""Reading a run's directory: settings, checkpoints, bad input."""

import os

import pytest

from keras_gs.analysis import run_dir
from keras_gs.experiment import files
from keras_gs.experiment.config import ExperimentConfig


def make_run(root, steps=(20, 100, 40), results=None):
    paths = files.RunPaths.of(root, "rotated_digits", "erm", "0", 0)
    config = ExperimentConfig(surgery=("erm",), test_domains=("0",))
    os.makedirs(paths.checkpoints)
    files.write_json(paths.config, {**config.to_dict(), "trial": 0})
    for step in steps:
        open(paths.step_weights(step), "w").close()
    if results is not None:
        files.write_json(paths.results, results)
        open(paths.best_weights, "w").close()
        open(paths.last_weights, "w").close()
    return paths


def test_reads_the_settings_and_orders_checkpoints_by_step(tmp_path):
    paths = make_run(str(tmp_path))
    run = run_dir.open_run(paths.root)
    assert run.config.dataset == "rotated_digits"
    assert (run.surgery, run.test_domain) == ("erm", "0")
    chosen = run.select()
    assert [c.name for c in chosen] == ["step_20", "step_40", "step_100"]
    assert [c.step for c in chosen] == [20, 40, 100]
    assert chosen[0].path == paths.step_weights(20)
    # By name or by step, in step order, each once.
    assert [c.name for c in run.select(["100", "step_20", "20"])] == [
        "step_20",
        "step_100",
    ]


def test_best_and_last_take_their_steps_from_the_results(tmp_path):
    results = {"steps": 100, "selection": {"best_val": {"step": 40}}}
    run = run_dir.open_run(make_run(str(tmp_path), results=results).root)
    chosen = run.select(["last", "best", "step_20"])
    assert [(c.name, c.step) for c in chosen] == [
        ("step_20", 20),
        ("best", 40),
        ("last", 100),
    ]


def test_without_step_checkpoints_the_default_is_best_and_last(tmp_path):
    results = {"steps": 100, "selection": {"best_val": {"step": 40}}}
    run = run_dir.open_run(make_run(str(tmp_path), (), results).root)
    assert [c.name for c in run.select()] == ["best", "last"]


def test_bad_input_names_the_path_or_value(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run_dir.open_run(missing)
    with pytest.raises(FileNotFoundError, match="config.json"):
        run_dir.open_run(str(tmp_path))
    run = run_dir.open_run(make_run(str(tmp_path)).root)
    with pytest.raises(
        ValueError,
        match="checkpoints='step_30'. Valid: step_20, step_40, step_100",
    ):
        run.select(["step_30"])
    empty = run_dir.open_run(make_run(str(tmp_path / "b"), ()).root)
    with pytest.raises(FileNotFoundError, match="checkpoint_every"):
        empty.select()
