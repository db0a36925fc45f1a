"""`train_run`: one run of the protocol (one surgery, target, trial).

A run trains on the source domains' train splits for `steps` steps and, at
every evaluation, records the source-validation accuracy and the target's
validation and test accuracies, so that any selection rule can be applied
afterwards (`selection.select`). It writes its directory (see `files`) and
resumes from its last backup when one is there.
"""

import contextlib
import dataclasses
import datetime
import os
import statistics
import time

import keras

from keras_gs.data.zip_domains import zip_domains
from keras_gs.experiment import run_callbacks as callbacks_lib
from keras_gs.experiment import checkpoints
from keras_gs.experiment import files
from keras_gs.experiment import seeds
from keras_gs.experiment import selection
from keras_gs.experiment import tensorboard
from keras_gs.experiment.evaluation import Evaluator


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
    """What a run has recorded so far, and the writes it makes.

    Used by the callbacks of `callbacks.make_callbacks`; restored from the
    resume checkpoint when a run goes on after an interruption.
    """

    def __init__(
        self,
        spec,
        config,
        splits,
        slot,
        paths,
        writes_files,
        logger,
        evaluator,
    ):
        self.spec = spec
        self.steps = config.steps
        self.eval_every = config.eval_every
        self.splits = splits
        self.slot = slot
        self.paths = paths
        self.writes_files = writes_files
        self.logger = logger
        self.evaluator = evaluator
        self.history = []
        self.resumed_from = []
        self.previous_wall_time = 0.0
        self.best_step = None
        self.best_weights = None
        self.best_saved_step = None
        self.seconds = {"evaluation": 0.0, "writing": 0.0, "other": 0.0}
        self._run_started = time.perf_counter()
        self._period_start = None

    # -- timing -------------------------------------------------------------

    @contextlib.contextmanager
    def timed(self, what):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] += time.perf_counter() - start

    def wall_time(self) -> float:
        """Seconds of this run, over every session of it."""
        return self.previous_wall_time + time.perf_counter() - self._run_started

    def period_started(self):
        self._period_start = time.perf_counter()

    # -- at each evaluation ---------------------------------------------------

    def evaluate(self, step, logs):
        train_seconds = time.perf_counter() - self._period_start
        with self.timed("evaluation"):
            accuracy = self.evaluator()
        train = {}
        for key, value in logs.items():
            if key.startswith("loss_") and key[5:].isdigit():
                domain = self.splits.source_domains[int(key[5:])]
                train[f"loss/{domain}"] = float(value)
            elif key != "skipped_steps":
                train[key] = float(value)
        entry = {
            "step": int(step),
            "source_val_accuracy": accuracy["val"],
            "target_val_accuracy": accuracy["target_val"],
            "target_test_accuracy": accuracy["test"],
            "train": train,
            "skipped_steps": int(logs.get("skipped_steps", 0)),
            "train_seconds": train_seconds,
            "wall_time": self.wall_time(),
        }
        self.history.append(entry)
        with self.timed("writing"):
            self.logger.scalars(
                step,
                tensorboard.evaluation_scalars(
                    entry, self.splits.source_domains
                ),
            )
        best = selection.select(self.history, "best_val")
        if best["step"] != self.best_step:
            self.best_step = best["step"]
            self.best_weights = self.slot.network.get_weights()

    # -- files ----------------------------------------------------------------

    def save_step_weights(self, step):
        checkpoints.save_weights(
            self.slot.network, self.paths.step_weights(step)
        )

    def save_best_weights(self):
        """Writes the best source-validation weights if not yet on disk."""
        if self.best_weights is None or self.best_saved_step == self.best_step:
            return
        checkpoints.save_weight_values(
            self.slot.network, self.best_weights, self.paths.best_weights
        )
        self.best_saved_step = self.best_step

    def backup(self, step):
        # The best weights first: the resume file then never refers to a
        # best step whose weights are not on disk.
        self.save_best_weights()
        checkpoints.save_resume(
            self.paths.resume,
            checkpoints.model_state(self.slot.model),
            {
                "step": int(step),
                "history": self.history,
                "resumed_from": self.resumed_from,
                "wall_time": self.wall_time(),
                "best_step": self.best_saved_step,
            },
        )

    def restore(self):
        """Loads the resume checkpoint if there is one; returns its step."""
        loaded = checkpoints.load_resume(self.paths.resume)
        if loaded is None:
            return 0
        state, progress = loaded
        checkpoints.set_model_state(self.slot.model, state)
        self.history = progress["history"]
        self.resumed_from = progress["resumed_from"] + [progress["step"]]
        self.previous_wall_time = progress["wall_time"]
        if progress["best_step"] is not None:
            self.best_step = self.best_saved_step = progress["best_step"]
            # Weights of the best step are on disk; keep them in memory
            # too, in case they stay the best.
            current = self.slot.network.get_weights()
            self.slot.network.load_weights(self.paths.best_weights)
            self.best_weights = self.slot.network.get_weights()
            self.slot.network.set_weights(current)
        return progress["step"]


def train_run(
    config,
    spec: RunSpec,
    splits,
    slot,
    *,
    writes_files: bool = True,
    progress=None,
    domains=None,
) -> dict:
    """Trains and evaluates one run; writes its directory; returns results.

    Args:
        config: the `ExperimentConfig`.
        spec: the `RunSpec`.
        splits: the `DomainSplits` with `spec.test_domain` held out.
        slot: a `ModelSlot` for `spec.surgery` and the trial's seed, on
            which `train_run` resets (or restores) the model.
        writes_files: bool, whether this process writes the run's files
            (`distribution.writes_files`). Defaults to `True`.
        progress: a `progress.Progress` or None.
        domains: list of str, every domain of the dataset in its order
            (recorded for the table's columns); None: the splits' test
            domain, then its source domains.

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
            {
                **run_config.to_dict(),
                "trial": spec.trial,
                "trial_seed": trial_seed,
            },
        )
        files.write_text(paths.flags, _flagfile(run_config, spec))
    evaluator = Evaluator(
        slot.network,
        {
            "val": splits.val,
            "target_val": splits.test_val,
            "test": splits.test,
        },
        count=slot.count_correct,
    )
    logger = tensorboard.RunLogger(
        paths.root,
        {
            **run_config.result_settings(),
            "surgery": spec.surgery,
            "test_domain": spec.test_domain,
            "trial": spec.trial,
        },
        name=f"{config.dataset}/{spec.name}",
        enabled=writes_files,
    )
    state = RunState(
        spec, config, splits, slot, paths, writes_files, logger, evaluator
    )
    slot.reset()
    start_step = state.restore()
    if progress is not None:
        progress.run_started(spec, start_step)
    # The same global seed before every run, so the batch order does not
    # depend on what ran before in this process.
    keras.utils.set_random_seed(trial_seed)
    train = zip_domains(
        splits.train_domains,
        config.batch_size,
        seed=seeds.data_seed(trial_seed, start_step),
    )
    fit_started = time.perf_counter()
    try:
        slot.model.fit(
            train,
            steps_per_epoch=config.eval_every,
            epochs=config.steps // config.eval_every,
            initial_epoch=start_step // config.eval_every,
            callbacks=callbacks_lib.make_callbacks(state, config, progress),
            verbose=0,
            # zip_domains shuffles each domain; Keras cannot shuffle a
            # tf.data dataset and warns when asked to (its default).
            shuffle=False,
        )
    except BaseException:
        logger.close()
        raise
    fit_seconds = time.perf_counter() - fit_started
    first_fit = slot.fits == 0
    slot.fits += 1

    results = _results(config, spec, splits, state, trial_seed)
    logger.scalars(
        config.steps,
        {
            f"selected/{rule}_test_accuracy": chosen["test_accuracy"]
            for rule, chosen in results["selection"].items()
        },
    )
    logger.close()
    results["domains"] = list(
        domains or splits.test_domains + splits.source_domains
    )
    new_periods = state.history[len(state.history) - _periods_run(state) :]
    train_seconds = [e["train_seconds"] for e in new_periods]
    results["timing"] = {
        "fit": fit_seconds,
        "train": sum(train_seconds),
        "evaluation": state.seconds["evaluation"],
        "writing": state.seconds["writing"],
        "new_model": first_fit,
        # The first period of a new model includes tracing the step.
        "first_period_excess": (
            train_seconds[0] - statistics.median(train_seconds[1:])
            if len(train_seconds) > 1
            else 0.0
        ),
    }
    if writes_files:
        with state.timed("writing"):
            # Copies rather than new writes when the file exists already
            # (a Keras weights file takes ~10 ms to write for the small CNN).
            kept = paths.step_weights(config.steps)
            if config.checkpoint_every and os.path.exists(kept):
                files.copy(kept, paths.last_weights)
            else:
                checkpoints.save_weights(slot.network, paths.last_weights)
            if state.best_step == config.steps:
                files.copy(paths.last_weights, paths.best_weights)
            else:
                state.save_best_weights()
            files.write_json(paths.results, results)
            # Done: nothing to resume from any more.
            if os.path.exists(paths.resume):
                os.remove(paths.resume)
    if progress is not None:
        progress.run_finished(spec, results)
    return results


def _periods_run(state):
    """Evaluation periods trained in this session (after any resume)."""
    start = state.resumed_from[-1] if state.resumed_from else 0
    return (state.steps - start) // state.eval_every


def _results(config, spec, splits, state, trial_seed):
    history = state.history
    return {
        "dataset": config.dataset,
        "surgery": spec.surgery,
        "test_domain": spec.test_domain,
        "trial": spec.trial,
        "trial_seed": trial_seed,
        "source_domains": list(splits.source_domains),
        "num_classes": splits.num_classes,
        "sizes": {
            "train": dict(splits.sizes["train"]),
            "source_val": sum(splits.sizes["val"].values()),
            "target_val": int(splits.test_val.cardinality()),
            "target_test": sum(splits.sizes["test"].values()),
        },
        "history": history,
        "selection": selection.select_all(history),
        "steps": history[-1]["step"],
        "skipped_steps": sum(e["skipped_steps"] for e in history),
        "wall_time": state.wall_time(),
        "resumed_from": state.resumed_from,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def _flagfile(run_config, spec):
    return (
        f"# {run_config.dataset}: surgery {spec.surgery}, target "
        f"{spec.test_domain}, trial {spec.trial} (one of --trials="
        f"{run_config.trials}).\n"
        "# Repeat with: python tools/train.py --flagfile=<this file>\n"
        + run_config.to_flags()
    )
