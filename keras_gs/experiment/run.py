"""`train_run`: one run of the protocol (one surgery, target, trial).

A run trains on the source domains' train splits for `steps` steps and, at
every evaluation, records the source-validation accuracy and the target's
validation and test accuracies, so that any selection rule can be applied
afterwards (`selection.select`). It writes its directory (see `files`),
holds a lock on it while it trains (`run_lock`), and resumes from its
last backup when one is there (`backup`): the resumed run is the run that
was never interrupted, evaluation for evaluation.
"""

import dataclasses
import datetime
import os
import statistics

import keras
import numpy as np

from keras_gs.callbacks import ConflictMonitor
from keras_gs.data import zip_domains
from keras_gs.experiment import checkpoints
from keras_gs.experiment import files
from keras_gs.experiment import seeds
from keras_gs.experiment import selection
from keras_gs.experiment import tensorboard
from keras_gs.experiment.backup import RunBackup
from keras_gs.experiment.evaluation import Evaluator
from keras_gs.experiment.run_callbacks import RunEvents
from keras_gs.experiment.run_history import RunHistory
from keras_gs.experiment.schedule import Schedule
from keras_gs.experiment.stopwatch import Stopwatch


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Which run: a surgery, a held-out target domain and a trial index."""

    surgery: str
    test_domain: str
    trial: int

    @property
    def name(self) -> str:
        return f"{self.surgery}/{self.test_domain}/trial_{self.trial}"


class RunState:
    """The parts of a run that act at its events (see `RunEvents`).

    Args:
        config, spec, splits, slot: the run's settings, identity, data and
            model.
        paths: its `files.RunPaths`.
        writes_files: bool, whether this process writes (the chief).
        progress: a `Progress` or None.
    """

    def __init__(self, config, spec, splits, slot, paths, writes_files, progress):
        self.config = config
        self.spec = spec
        self.slot = slot
        self.paths = paths
        self.writes_files = writes_files
        self.progress = progress
        self.schedule = Schedule.of(config)
        self.history = RunHistory(splits.source_domains)
        self.watch = Stopwatch()
        self.stopped_at = None
        self.evaluator = Evaluator(
            slot.network,
            {
                "val": splits.val,
                "target_val": splits.test_val,
                "test": splits.test,
            },
            count=slot.count_correct,
        )
        self.backups = RunBackup(
            paths.checkpoints,
            slot.model,
            config.result_settings(),
            writes_files=writes_files,
        )
        self.logger = tensorboard.RunLogger(
            paths.root,
            {
                **config.result_settings(),
                "surgery": spec.surgery,
                "test_domain": spec.test_domain,
                "trial": spec.trial,
            },
            name=f"{config.dataset}/{spec.name}",
            enabled=writes_files,
        )
        self._period_seconds = 0.0
        self._chunk_start = None
        # (step, weights) of the best source-validation evaluation, and
        # the step whose weights are in `best.weights.h5`.
        self.best = None
        self.best_on_disk = None
        self.chunk_seconds = []

    # -- at each chunk and evaluation ---------------------------------------

    def chunk_started(self):
        self._chunk_start = Stopwatch.now()

    def chunk_finished(self):
        seconds = Stopwatch.now() - self._chunk_start
        self._period_seconds += seconds
        self.watch.seconds["train"] += seconds
        self.chunk_seconds.append(seconds)

    def wall_time(self) -> float:
        """Seconds of this run, over every session of it."""
        return self.history.previous_wall_time + self.watch.elapsed()

    def evaluate(self, step, logs):
        with self.watch.timing("evaluation"):
            accuracy = self.evaluator()
        entry = self.history.record(
            step,
            accuracy,
            logs,
            self._period_seconds,
            self.wall_time(),
            period_steps=step - self.schedule.previous_evaluation(step),
        )
        self._period_seconds = 0.0
        with self.watch.timing("writing"):
            self.logger.scalars(
                step,
                tensorboard.evaluation_scalars(entry, self.history.source_domains),
            )
            if self.writes_files and self.schedule.keeps_weights(step):
                checkpoints.save_weights(
                    self.slot.network, self.paths.step_weights(step)
                )
        if self.history.best_step() == step:
            # Kept in memory; written at the next backup and at the end
            # (a file of AlexNet's weights takes 230 MB).
            self.best = (step, self.slot.network.get_weights())
        return entry

    def report(self, step, entry):
        if self.progress is not None:
            self.progress.period(step, entry)

    def save_best_weights(self):
        """Writes the best evaluation's weights if not on disk yet."""
        if not self.writes_files or self.best is None:
            return
        step, weights = self.best
        if step != self.best_on_disk:
            checkpoints.save_weight_values(
                self.slot.network, weights, self.paths.best_weights
            )
            self.best_on_disk = step

    def backup(self, step):
        with self.watch.timing("writing"):
            # The best weights first: a backup never refers to a best step
            # whose weights are not on disk.
            self.save_best_weights()
            self.backups.save(
                step,
                {
                    "step": int(step),
                    **self.history.to_json(),
                    "wall_time": self.wall_time(),
                    "period_seconds": self._period_seconds,
                    "metrics": {
                        v.path: v.numpy().tolist()
                        for v in self.slot.model.metrics_variables
                    },
                },
            )

    def restore(self):
        """Restores the newest backup if there is one; returns its step."""
        say = self.progress.print if self.progress is not None else print
        stored = self.backups.restore(warn=say)
        if stored is None:
            return 0, None
        step = stored["step"]
        self.history.restore(stored, step)
        self._period_seconds = stored.get("period_seconds", 0.0)
        best = self.history.best_step()
        if best is not None:
            # Its weights are on disk (written before the backup); kept in
            # memory too, in case they stay the best.
            current = self.slot.network.get_weights()
            self.slot.network.load_weights(self.paths.best_weights)
            self.best = (best, self.slot.network.get_weights())
            self.best_on_disk = best
            self.slot.network.set_weights(current)
        carried = None
        if not self.schedule.evaluates(step):
            # Inside a period: its training averages go on.
            carried = stored["metrics"]
        return step, carried


def train_run(
    config,
    spec: RunSpec,
    splits,
    slot,
    *,
    writes_files: bool = True,
    progress=None,
    domains=None,
    start_weights=None,
) -> dict:
    """Trains and evaluates one run; writes its directory; returns results.

    Args:
        config: the `ExperimentConfig`.
        spec: the `RunSpec`.
        splits: the `DomainSplits` with `spec.test_domain` held out.
        slot: a `ModelSlot` for `spec.surgery` and the trial's seed, on
            which `train_run` resets (or restores) the model.
        writes_files: bool, whether this process writes the run's files
            (`keras_gs.utils.distribute.is_chief`). Defaults to `True`.
        progress: a `progress.Progress` or None.
        domains: list of str, every domain of the dataset in its order
            (recorded for the table's columns); None: `splits.domains`.
        start_weights: str or None, a `.weights.h5` file of the network
            the run starts from (its pretraining stage's last weights);
            None: the slot's initial weights. A backup, when there is
            one, wins: it holds the weights the run had reached.

    Returns:
        The contents of `results.json`: `history` (one entry per
        evaluation: `step`, `source_val_accuracy`, `target_val_accuracy`,
        `target_test_accuracy`, `train` (loss, accuracy, `loss/<domain>`,
        agreement, cosine averaged over the period), `skipped_steps`,
        `train_seconds`, `wall_time`), `selection` (for each rule of
        `selection.RULES`: its step and test accuracy), `steps`,
        `skipped_steps`, `wall_time`, `resumed_from`, and the run's
        identity and data sizes.
    """
    paths = files.RunPaths.of_run(config, spec)
    trial_seed = seeds.trial_seed(config.seed, spec.trial)
    run_config = dataclasses.replace(
        config, surgery=(spec.surgery,), test_domains=(spec.test_domain,)
    )
    if writes_files:
        os.makedirs(paths.checkpoints, exist_ok=True)
        files.write_json(
            paths.config,
            {**run_config.to_dict(), "trial": spec.trial, "trial_seed": trial_seed},
        )
        files.write_text(paths.flags, _flagfile(run_config, spec))
    slot.reset()
    if start_weights is not None:
        slot.network.load_weights(start_weights)
    run = RunState(config, spec, splits, slot, paths, writes_files, progress)
    start_step, carried = run.restore()
    if progress is not None:
        progress.run_started(spec, start_step)
    # The same global seed before every run, so that nothing depends on
    # what ran before in this process.
    keras.utils.set_random_seed(trial_seed)
    train = zip_domains(
        splits.training_domains,
        config.batch_size,
        seed=seeds.data_seed(trial_seed),
        start_step=start_step,
    )
    callbacks = [RunEvents(run, carried)]
    if config.conflicts_every and slot.model.measures_conflicts:
        # On every worker: its variables are created collectively; only
        # the chief writes. (ERM has one gradient: nothing to compare.)
        callbacks.append(ConflictMonitor(paths.root, config.conflicts_every))
    try:
        slot.model.fit(
            train,
            steps_per_epoch=run.schedule.chunk,
            epochs=run.schedule.num_chunks,
            initial_epoch=start_step // run.schedule.chunk,
            callbacks=callbacks,
            verbose=0,
            # zip_domains shuffles each domain; Keras cannot shuffle a
            # tf.data dataset and warns when asked to (its default).
            shuffle=False,
        )
    except BaseException:
        run.logger.close()
        raise
    results = _results(config, spec, splits, run, trial_seed, domains)
    run.logger.scalars(
        config.steps,
        {
            f"selected/{rule}_test_accuracy": chosen["test_accuracy"]
            for rule, chosen in results["selection"].items()
        },
    )
    run.logger.close()
    if writes_files:
        with run.watch.timing("writing"):
            checkpoints.save_weights(slot.network, paths.last_weights)
            run.save_best_weights()
            files.write_json(paths.results, results)
            # Done: nothing to resume from any more.
            run.backups.remove()
    if progress is not None:
        progress.run_finished(spec, results)
    slot.fits += 1
    return results


def _results(config, spec, splits, run, trial_seed, domains):
    history = run.history.entries
    return {
        "dataset": config.dataset,
        "surgery": spec.surgery,
        "test_domain": spec.test_domain,
        "trial": spec.trial,
        "trial_seed": trial_seed,
        "source_domains": list(splits.source_domains),
        "domains": list(domains or splits.domains),
        "num_classes": splits.num_classes,
        "sizes": {
            "train": dict(splits.sizes["train"]),
            "source_val": sum(splits.sizes["val"].values()),
            "target_val": int(splits.test_val.cardinality()),
            "target_test": sum(splits.sizes["test"].values()),
        },
        "settings": config.result_settings(),
        "history": history,
        "selection": selection.select_all(history),
        "diverged": _diverged(run),
        "steps": history[-1]["step"],
        "skipped_steps": run.history.skipped_steps,
        "wall_time": run.wall_time(),
        "resumed_from": run.history.resumed_from,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "timing": {
            "train": run.watch.seconds["train"],
            "evaluation": run.watch.seconds["evaluation"],
            "writing": run.watch.seconds["writing"],
            "total": run.watch.elapsed(),
            # The first chunk of a new model includes tracing its step.
            "tracing": (
                run.chunk_seconds[0] - statistics.median(run.chunk_seconds[1:])
                if run.slot.fits == 0 and len(run.chunk_seconds) > 1
                else 0.0
            ),
        },
    }


def _diverged(run):
    """Why the run is not a result to report, or None.

    A run diverged when most of its steps were skipped (their gradients
    were not finite, as after a too large learning rate) or its weights
    are not finite: its accuracies are those of a broken network.
    """
    skipped = run.history.skipped_steps
    if not all(np.isfinite(w).all() for w in run.slot.network.get_weights()):
        return "its weights are not finite"
    if skipped * 2 > run.schedule.steps:
        return f"{skipped} of {run.schedule.steps} steps skipped (not finite)"
    return None


def _flagfile(run_config, spec):
    return (
        f"# {run_config.dataset}: surgery {spec.surgery}, target "
        f"{spec.test_domain}, trial {spec.trial} (one of --trials="
        f"{run_config.trials}).\n"
        "# Repeat with: python tools/train.py --flagfile=<this file>\n"
        + run_config.to_flags()
    )
