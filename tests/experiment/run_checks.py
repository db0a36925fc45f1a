"""Shared by the experiment-level tests: tiny experiments and re-evaluation.

`evaluate_weights` rebuilds a run's network from its settings, loads a
weights file and evaluates it with the run's own splits, so a test can
check that a checkpoint holds the weights of the step the history says.
"""

import dataclasses

from keras_gs import backbones
from keras_gs import data
from keras_gs import experiment
from keras_gs.experiment import files
from keras_gs.experiment.evaluation import Evaluator

ACCURACIES = {
    "val": "source_val_accuracy",
    "target_val": "target_val_accuracy",
    "test": "target_test_accuracy",
}


def tiny_config(workdir, **overrides):
    """One surgery, one target, a few steps of the embedded digits."""
    settings = dict(
        surgery=("erm",),
        test_domains=("75",),
        steps=20,
        eval_every=10,
        checkpoint_every=0,
        backup_every=0,
        deterministic=False,
        workdir=str(workdir),
    )
    settings.update(overrides)
    return experiment.ExperimentConfig(**settings)


class StopAfter(experiment.Progress):
    """Progress that interrupts the run (as Ctrl-C) after step `step`'s
    evaluation, backup and checkpoints are written."""

    def __init__(self, step):
        super().__init__(0, 0, interval=1e9)
        self.stop_step = step

    def period(self, step, entry):
        super().period(step, entry)
        if step == self.stop_step:
            raise KeyboardInterrupt


def quiet():
    return experiment.Progress(0, 0, interval=1e9)


def run_paths(config, surgery=None, trial=0):
    spec = experiment.RunSpec(
        surgery or config.surgery[0], config.test_domains[0], trial
    )
    return files.RunPaths.of_run(config, spec)


class Reevaluator:
    """Evaluates weights files of runs of `config` as the runs did."""

    def __init__(self, config):
        self.splits = data.load(
            config.dataset,
            test_domains=config.test_domains[0],
            split_seed=config.split_seed,
        )
        self.network = backbones.get(
            config.backbone, self.splits.image_shape, self.splits.num_classes
        )
        self.evaluator = Evaluator(
            self.network,
            {
                "val": self.splits.val,
                "target_val": self.splits.test_val,
                "test": self.splits.test,
            },
        )

    def __call__(self, path) -> dict:
        """`{history key: accuracy}` of the weights in `path`."""
        self.network.load_weights(path)
        return {ACCURACIES[k]: v for k, v in self.evaluator().items()}


def at_step(history, step) -> dict:
    (entry,) = [e for e in history if e["step"] == step]
    return {key: entry[key] for key in ACCURACIES.values()}


def replace(config, **changes):
    return dataclasses.replace(config, **changes)
