"""The fine-tuning regime (`pretrain_steps`): one ERM stage per target and
trial, trained once, and every surgery starting from its last weights."""

import glob
import io
import os

import h5py
import numpy as np
import pytest

from keras_gs import experiment
from keras_gs.experiment import files
from keras_gs.experiment import protocol
from keras_gs.experiment.run_lock import RunLock
from run_checks import StopAfter, quiet, replace, run_paths, tiny_config
from tool_helpers import ROOT, run


def weights_of(path):
    """Every array of a `.weights.h5` file, in a fixed order."""
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, item: arrays.append((name, item[()]))
            if isinstance(item, h5py.Dataset)
            else None
        )
    return [a for _, a in sorted(arrays, key=lambda p: p[0])]


def stage_results(config):
    stage = config.pretrain_stage()
    return files.RunPaths.of_run(
        stage, experiment.RunSpec("erm", config.test_domains[0], 0)
    )


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """Two surgeries fine-tuned at a learning rate too small to move."""
    workdir = tmp_path_factory.mktemp("finetune")
    config = tiny_config(
        workdir,
        surgery=("erm", "agr-sum"),
        pretrain_steps=20,
        pretrain_lr=1e-3,
        steps=10,
        lr=1e-12,
    )
    experiment.Experiment(config).run(quiet())
    return config


def test_each_surgery_starts_from_the_stage_last_weights(finetuned):
    stage = stage_results(finetuned)
    start = weights_of(stage.last_weights)
    for surgery in finetuned.surgery:
        end = weights_of(run_paths(finetuned, surgery).last_weights)
        for a, b in zip(start, end):
            np.testing.assert_allclose(a, b, atol=1e-6)
    # The stage did train: its weights are not the initial ones, which a
    # from-scratch run at lr 1e-12 keeps.
    scratch = replace(finetuned, pretrain_steps=0, workdir=finetuned.workdir + "_s")
    experiment.Experiment(replace(scratch, surgery=("erm",))).run(quiet())
    initial = weights_of(run_paths(scratch, "erm").last_weights)
    assert max(np.abs(a - b).max() for a, b in zip(start, initial)) > 1e-3


def test_compare_regimes_tool_prints_the_two_rules(finetuned):
    result = run(
        ROOT / "tools" / "compare_regimes.py", f"tuned={finetuned.workdir}"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| rule | tuned: avg | tuned: − erm |"
    # One trial: no standard error; agr-sum at lr 1e-12 keeps the stage's
    # weights, as erm does: the same average, a difference of 0.
    erm, agr_sum = (
        [c.strip() for c in line.strip("|").split("|")] for line in lines[2:4]
    )
    assert (erm[0], erm[2]) == ("erm", "–")
    assert (agr_sum[0], agr_sum[1], agr_sum[2]) == ("agr-sum", erm[1], "+0.0 (1)")
    bad = run(ROOT / "tools" / "compare_regimes.py", "no-equals-sign")
    assert bad.returncode == 2
    assert "NAME=WORKDIR" in bad.stderr


def test_the_stage_is_trained_once_and_shared(finetuned):
    stage = stage_results(finetuned)
    stamp = os.stat(stage.results).st_mtime_ns
    # Another fine-tuning learning rate, same stage settings: a new
    # experiment in the same work directory reuses the stage.
    other = replace(finetuned, lr=1e-11, workdir=finetuned.workdir + "_lr")
    other = replace(other, pretrain_workdir=os.path.join(finetuned.workdir, "pretrain"))
    summary = experiment.Experiment(other).run(quiet())
    assert len(summary.results) == 2
    assert os.stat(stage.results).st_mtime_ns == stamp
    stages = glob.glob(os.path.join(finetuned.workdir, "pretrain", "stage_*"))
    assert len(stages) == 1
    # Run again: nothing is trained, the stage neither.
    again = experiment.Experiment(finetuned).run(quiet())
    assert not again.results and len(again.skipped) == 2
    assert os.stat(stage.results).st_mtime_ns == stamp


def test_stage_settings_name_their_directory(tmp_path):
    config = tiny_config(tmp_path, pretrain_steps=20)
    same = replace(config, lr=1e-4, surgery=("pcgrad",), warmup_steps=5)
    longer = replace(config, pretrain_steps=40)
    faster = replace(config, pretrain_lr=1e-2)
    assert same.pretrain_stage().workdir == config.pretrain_stage().workdir
    assert longer.pretrain_stage().workdir != config.pretrain_stage().workdir
    assert faster.pretrain_stage().workdir != config.pretrain_stage().workdir
    stage = config.pretrain_stage()
    assert (stage.surgery, stage.steps, stage.lr) == (("erm",), 20, 1e-3)
    assert tiny_config(tmp_path).pretrain_stage() is None


def test_an_interrupted_stage_resumes(tmp_path):
    config = tiny_config(
        tmp_path,
        surgery=("agr-sum",),
        pretrain_steps=20,
        steps=10,
        backup_every=10,
        deterministic=True,
    )
    straight = replace(config, workdir=str(tmp_path / "straight"))
    experiment.Experiment(straight).run(quiet())
    # Ctrl-C at step 10 of the stage (trained on its own here, as the
    # experiment trains it): its backup is kept.
    with pytest.raises(KeyboardInterrupt):
        experiment.Experiment(config.pretrain_stage()).run(StopAfter(10))
    assert not os.path.exists(stage_results(config).results)
    # The whole command again: the stage resumes at step 10, then the
    # surgery fine-tunes from its last weights.
    experiment.Experiment(config).run(quiet())
    stage_history = files.read_json(stage_results(config).results)
    assert stage_history["resumed_from"] == [10]
    ours = files.read_json(run_paths(config).results)
    theirs = files.read_json(run_paths(straight).results)
    for a, b in zip(ours["history"], theirs["history"]):
        assert a["target_test_accuracy"] == b["target_test_accuracy"]
        np.testing.assert_allclose(
            a["train"]["loss"], b["train"]["loss"], rtol=1e-5
        )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(pretrain_steps=-1), "pretrain_steps"),
        (dict(pretrain_lr=0.0), "pretrain_lr"),
        (dict(warmup_steps=-2), "warmup_steps"),
        (dict(warmup_steps=5, surgery=("fishr",)), "penalty_anneal_iters"),
    ],
)
def test_bad_regime_settings_are_refused_by_name(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, **change).validate()


def test_a_stage_another_process_trains_is_waited_for(tmp_path, monkeypatch):
    # A sweep's two workers need the same stage: the second waits for the
    # first (here, a lock this test holds until the wait is announced)
    # instead of failing.
    config = tiny_config(tmp_path, pretrain_steps=10, steps=10)
    stage = stage_results(config)
    os.makedirs(stage.root)
    monkeypatch.setattr(protocol, "_STAGE_POLL_SECONDS", 0.2)
    lock = RunLock(stage.root)
    lock.__enter__()

    class ReleaseWhenWaiting(io.StringIO):
        def write(self, text):
            if "Waiting for the process training" in text:
                lock.__exit__(None, None, None)
            return super().write(text)

    printed = ReleaseWhenWaiting()
    progress = experiment.Progress(0, 0, stream=printed, interval=1e9)
    summary = experiment.Experiment(config).run(progress)
    assert "Waiting for the process training" in printed.getvalue()
    assert len(summary.results) == 1
    assert os.path.exists(stage.results)
