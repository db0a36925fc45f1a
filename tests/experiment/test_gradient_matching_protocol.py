"""Fish, Fishr and IGA in the protocol: options, model reuse, train.py."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from keras_gs import experiment
from keras_gs.experiment import files
from keras_gs.experiment.model_slot import ModelSlot

from tool_helpers import load_train_tool
from tool_helpers import parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from image_files import make_tree  # noqa: E402


def test_surgery_options_reach_the_methods():
    config = experiment.ExperimentConfig(
        surgery=("fishr", "iga"),
        surgery_options=("fishr.lambda=100", "fishr.ema=0.9", "iga.penalty=10"),
    ).validate()
    fishr = keras_gs.surgery.get("fishr", **config.surgery_kwargs("fishr"))
    assert (fishr.penalty_weight, fishr.ema) == (100.0, 0.9)
    assert keras_gs.surgery.get("iga", **config.surgery_kwargs("iga")).penalty == 10
    with pytest.raises(ValueError, match=r"Bad surgery_options for 'fish'.*meta_lr"):
        experiment.ExperimentConfig(
            surgery=("fish",), surgery_options=("fish.meta_lr=-1",)
        ).validate()


def test_model_slot_resets_the_step_state():
    # A slot's model is reused for the next target: Fish's inner Adam must
    # start fresh again, as in a new model.
    config = experiment.ExperimentConfig(surgery=("fish",), lr=0.01)
    slot = ModelSlot(
        config, "fish", 0, (8, 8, 1), 3, 2, tf.distribute.get_strategy()
    )
    initial = [v.numpy() for v in slot.model.step_variables]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=(4, 2)).astype("int32")
    slot.model.train_on_batch(x, y)
    trained = [v.numpy() for v in slot.model.step_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(initial, trained))
    slot.reset()
    for variable, value in zip(slot.model.step_variables, initial, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert int(slot.model.optimizer.iterations.numpy()) == 0


def test_train_tool_runs_them_with_backups_and_conflict_logs(tmp_path, capsys):
    # tools/train.py's flags -> config -> protocol, in this process (a
    # subprocess's start-up would double the time): two source domains of
    # tiny images, penalties on from step 2, backups and ConflictMonitor
    # (which skips these methods) every 2 steps.
    root = make_tree(tmp_path / "tree", ["a", "b", "c"], ["cat", "dog"], 10)
    workdir = tmp_path / "runs"
    tool = load_train_tool()
    values = parse(
        tool,
        "--dataset=folder",
        f"--data_dir={root}",
        "--image_size=16",
        "--batch_size=4",
        "--surgery=fish,fishr,iga",
        "--surgery_options=fishr.penalty_anneal_iters=2,fishr.lambda=10,"
        "iga.penalty=10",
        "--test_domains=c",
        "--steps=4",
        "--eval_every=2",
        "--backup_every=2",
        "--checkpoint_every=0",
        "--conflicts_every=2",
        # Op determinism is process-wide: not for the tests that follow.
        "--nodeterministic",
        f"--workdir={workdir}",
    )
    summary = tool.prepare(values, experiment).run()
    for name in ("fish", "fishr", "iga"):
        paths = files.RunPaths.of(str(workdir), "folder", name, "c", 0)
        results = files.read_json(paths.results)
        assert [e["step"] for e in results["history"]] == [2, 4]
        train = results["history"][-1]["train"]
        assert np.isfinite(train["loss"]) and results["skipped_steps"] == 0
        assert ("penalty" in train) == (name != "fish")
        assert f"| {name} |" in summary.markdown
    assert "fishr.lambda=10" in open(paths.flags).read()
