"""Trials of an experiment: each its own start and draws, each reproducible.

With a learning rate too small to move the weights, a run's last weights
are its initial weights: two trials must start from different ones, and
the same experiment run twice must give every trial the same history.
"""

import numpy as np

from keras_gs import backbones
from keras_gs import experiment
from keras_gs.experiment import files

from run_checks import quiet
from run_checks import run_paths
from run_checks import tiny_config


def run_two_trials(workdir):
    config = tiny_config(
        workdir,
        trials=2,
        steps=10,
        eval_every=10,
        lr=1e-12,
    )
    experiment.Experiment(config).run(progress=quiet())
    return config


def weights(path):
    network = backbones.get("small_cnn", (28, 28, 1), 10)
    network.load_weights(path)
    return network.get_weights()


def histories(config):
    return [
        files.read_json(run_paths(config, trial=t).results)["history"]
        for t in (0, 1)
    ]


def test_trials_start_apart_and_repeat(tmp_path):
    first = run_two_trials(tmp_path / "first")
    start = [weights(run_paths(first, trial=t).last_weights) for t in (0, 1)]
    difference = max(
        float(np.max(np.abs(a - b))) for a, b in zip(*start)
    )
    assert difference > 1e-3, "both trials started from the same weights"
    one, two = histories(first)
    assert one[0]["train"]["loss"] != two[0]["train"]["loss"]

    again = histories(run_two_trials(tmp_path / "again"))
    for trial in (0, 1):
        for ours, theirs in zip(histories(first)[trial], again[trial]):
            for key in (
                "source_val_accuracy",
                "target_val_accuracy",
                "target_test_accuracy",
            ):
                assert ours[key] == theirs[key]
            assert np.isclose(
                ours["train"]["loss"], theirs["train"]["loss"], rtol=1e-5
            )
