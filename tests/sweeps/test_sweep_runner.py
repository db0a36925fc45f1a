"""A job as a run of the protocol: its settings, its directory, and the
Experiment that covers only the runs of its configuration."""

import dataclasses
import os

import pytest

from keras_gs import experiment
from keras_gs.experiment import ExperimentConfig
from keras_gs.experiment import RunSpec
from keras_gs.sweeps import Job
from keras_gs.sweeps import SweepConfig
from keras_gs.sweeps import registry


def test_a_jobs_run_is_where_train_py_puts_its_settings(tmp_path):
    base = ExperimentConfig(trials=3, workdir=str(tmp_path / "sweep"))
    config = SweepConfig(base, n_hparams=4)
    job = Job("rotated_digits", "pcgrad", "75", 1, 2)
    hparams = registry.draw(base, "pcgrad", 2, 1)
    run = config.experiment_config(job, hparams)
    assert (run.surgery, run.trials) == (("pcgrad",), 2)
    assert (run.lr, run.batch_size) == (hparams["lr"], hparams["batch_size"])
    assert (run.coupled_l2, run.dropout) == (
        hparams["coupled_l2"],
        hparams["dropout"],
    )
    paths = experiment.files.RunPaths.of_run(run, RunSpec("pcgrad", "75", 1))
    assert paths.root == os.path.join(
        str(tmp_path),
        "sweep",
        "hparams_2",
        "rotated_digits",
        "pcgrad",
        "75",
        "trial_1",
    )
    # Configuration 0 is the flagfile's experiment, in hparams_0.
    zero = config.experiment_config(
        Job("rotated_digits", "erm", "0", 0, 0),
        registry.draw(base, "erm", 0, 0),
    )
    assert zero == dataclasses.replace(
        base, surgery=("erm",), trials=1, workdir=config.hparams_dir(0)
    )


def test_an_experiment_covers_the_runs_it_is_given(tmp_path):
    config = ExperimentConfig(
        surgery=("erm",),
        test_domains=("0", "75"),
        trials=2,
        workdir=str(tmp_path),
    )
    runs = [RunSpec("erm", "75", 1), RunSpec("erm", "0", 1)]
    assert experiment.Experiment(config, runs=runs).runs == runs
    with pytest.raises(
        ValueError,
        match="The experiment has no run erm/15/trial_0. Valid: erm/0/trial_0, ",
    ):
        experiment.Experiment(config, runs=[RunSpec("erm", "15", 0)])
