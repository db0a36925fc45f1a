"""Every weights file a run keeps holds the weights of the step it names.

Checked by loading each file into a fresh network and evaluating it on the
run's splits: the accuracies must be those the run's history recorded at
that step (`step_<n>` at n, `last` at the end, `best` at the step the
best_val rule selects), for a run trained in one go and for one that was
interrupted after a backup and resumed.
"""

import os

import pytest

from keras_gs import experiment
from keras_gs.experiment import files

from run_checks import Reevaluator
from run_checks import StopAfter
from run_checks import at_step
from run_checks import quiet
from run_checks import run_paths
from run_checks import tiny_config

STEPS, EVERY, STOP = 60, 10, 40


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    # A large learning rate: the source-validation accuracy peaks early,
    # so the best step comes before the interruption.
    return tiny_config(
        tmp_path_factory.mktemp("unused"),
        steps=STEPS,
        eval_every=EVERY,
        checkpoint_every=EVERY,
        backup_every=EVERY,
        lr=0.1,
    )


@pytest.fixture(scope="module")
def reevaluate(config):
    return Reevaluator(config)


def check_weights_files(paths, reevaluate):
    results = files.read_json(paths.results)
    history = results["history"]
    assert [e["step"] for e in history] == list(range(EVERY, STEPS + 1, EVERY))
    for entry in history:
        step = entry["step"]
        assert reevaluate(paths.step_weights(step)) == at_step(history, step), (
            f"step_{step}.weights.h5"
        )
    assert reevaluate(paths.last_weights) == at_step(history, STEPS)
    best = results["selection"]["best_val"]["step"]
    assert reevaluate(paths.best_weights) == at_step(history, best)
    return results


def test_uninterrupted_run_keeps_the_weights_it_names(
    config, reevaluate, tmp_path
):
    config = tiny_config(tmp_path, **_settings(config))
    experiment.Experiment(config).run(progress=quiet())
    check_weights_files(run_paths(config), reevaluate)


def test_resumed_run_keeps_the_weights_it_names(config, reevaluate, tmp_path):
    config = tiny_config(tmp_path, **_settings(config))
    with pytest.raises(KeyboardInterrupt):
        experiment.Experiment(config).run(progress=StopAfter(STOP))
    paths = run_paths(config)
    assert not os.path.exists(paths.results)
    experiment.Experiment(config).run(progress=quiet())
    results = check_weights_files(paths, reevaluate)
    assert results["resumed_from"] == [STOP]
    # The case that matters: the best step was before the interruption,
    # so its weights came from the backup, not from the resumed model.
    assert results["selection"]["best_val"]["step"] < STOP


def _settings(config):
    return {
        k: getattr(config, k)
        for k in (
            "steps",
            "eval_every",
            "checkpoint_every",
            "backup_every",
            "lr",
        )
    }
