"""`Experiment`: the loop over runs of the leave-one-domain-out protocol.

For every trial, every target domain and every surgery (in that order, so
that the surgeries of a target are compared as soon as possible), one run
(`run.train_run`) holds the target out and trains on the other domains.
Finished runs are skipped; an interrupted one resumes from its last
backup. At the end, the results table is written (`tables`).

Example:

```python
from keras_gs import experiment

config = experiment.ExperimentConfig(surgery=("erm", "agr-sum"), steps=200)
summary = experiment.run_experiment(config)
print(summary.markdown)
```
"""

import dataclasses
import os
import time
from contextlib import nullcontext

import tensorflow as tf

from keras_gs import data as data_lib
from keras_gs.utils import distribute
from keras_gs.experiment import backup
from keras_gs.experiment import strategy as distribution
from keras_gs.experiment import files
from keras_gs.experiment import interrupts
from keras_gs.experiment import preflight
from keras_gs.experiment import run_inputs
from keras_gs.experiment import seeds
from keras_gs.experiment import tables
from keras_gs.experiment.model_slot import ModelSlot
from keras_gs.experiment.model_slot import slot_key
from keras_gs.experiment.errors import InputError
from keras_gs.experiment.errors import differing_settings
from keras_gs.experiment.progress import Progress
from keras_gs.experiment.run import RunSpec
from keras_gs.experiment.run import train_run
from keras_gs.experiment.run_lock import RunBusy
from keras_gs.experiment.run_lock import RunLock
from keras_gs.experiment.stopwatch import Stopwatch


@dataclasses.dataclass
class ExperimentSummary:
    """What `Experiment.run` returns.

    Args:
        results: dict `RunSpec -> results` of the runs trained now.
        skipped: list of `RunSpec` already finished before.
        tables: list of `tables.ResultsTable` of the whole work directory.
        markdown: str, the tables as Markdown.
        report_paths: list of str, `results.md`, `.tex`, `.png`.
        busy: list of `RunSpec` another process was training: skipped.
        timing: dict of seconds: `loading`, `building` (new models),
            `tracing` (estimated: the first chunk of a new model beyond a
            typical one), `training`, `evaluation`, `writing`, `other`.
    """

    results: dict
    skipped: list
    busy: list
    tables: list
    markdown: str
    report_paths: list
    timing: dict


class Experiment:
    """A validated experiment, its data checked, ready to `run`.

    Construction does everything that can fail on bad input before any
    training: it validates `config`, builds the strategy, loads the first
    target's splits (which checks the dataset is prepared and its images
    readable), resolves the target domains, and checks that runs already in
    the work directory were made with the same settings. Errors are
    ValueErrors or FileNotFoundErrors with one clear message.

    Args:
        config: an `ExperimentConfig`.
        runs: list of `RunSpec`, the runs this experiment covers (each
            checked against the work directory), e.g. one trial of a
            hyper-parameter sweep; None for every trial, target and
            surgery of `config`. Defaults to `None`.
        strategy: a `tf.distribute.Strategy`, or None to make the one
            `config.strategy` names. Defaults to `None`.
        stage: an `ExperimentConfig`, the pretraining stage's experiment
            when `config.pretrain_steps` > 0, or None for
            `config.pretrain_stage()` (a sweep passes its flagfile's, so
            that every configuration fine-tunes the same stage). Defaults
            to `None`.
    """

    def __init__(self, config, runs=None, strategy=None, stage=None):
        self.config = config.validate()
        started = time.perf_counter()
        # One strategy per process (the pretraining stage's experiment
        # shares this one's: collectives clash between two).
        self.strategy = strategy or distribution.make_strategy(config.strategy)
        self.writes_files = distribute.is_chief(self.strategy)
        requested = (
            None if config.test_domains == "all" else config.test_domains
        )
        preflight.check_weights(config)
        first = self._load(requested[0] if requested else None)
        self._splits = {first.test_domains[0]: first}
        self.domains = list(first.domains)
        preflight.check_domain_names(self.domains)
        self.targets = (
            self.domains
            if requested is None
            else data_lib.resolve_domains(
                requested, self.domains, also_valid=("all",)
            )
        )
        preflight.check_splits(first, self.targets)
        self.runs = [
            RunSpec(surgery, target, trial)
            for trial in range(config.trials)
            for target in self.targets
            for surgery in config.surgery
        ]
        if runs is not None:
            self.runs = [_covered(r, self.runs) for r in runs]
        self.finished = [r for r in self.runs if self._check_workdir(r)]
        if len(self.finished) < len(self.runs):
            preflight.check_network(config, first)
            if self.writes_files:
                preflight.check_writable(config.workdir)
        # The fine-tuning regime's first stage (`pretrain_steps`): an
        # experiment of its own, whose run (erm, target, trial) every
        # surgery of that target and trial starts from.
        if config.pretrain_steps and stage is None:
            stage = config.pretrain_stage()
        self.stage = (
            None
            if stage is None or len(self.finished) == len(self.runs)
            else Experiment(stage, strategy=self.strategy)
        )
        self.seconds_loading = time.perf_counter() - started
        # Models by `slot_key`, kept between calls of `run`.
        self._slots = {}

    # -- the loop -----------------------------------------------------------

    def run(
        self, progress: Progress | None = None, runs=None
    ) -> ExperimentSummary:
        """Trains every unfinished run, then writes the results table.

        A run that another process is training (it holds the run's lock)
        is skipped and said so. Calling it again trains more runs on the
        models already built (a run of the same surgery and trial reuses
        its traced model).

        Args:
            progress: a `Progress`, or None for one printing to stdout.
            runs: list of `RunSpec` from `self.runs` to train now; None for
                all of them. Finished ones are skipped. Defaults to `None`.

        Returns:
            An `ExperimentSummary`.
        """
        config = self.config
        if config.deterministic:
            # Process-wide and irreversible: only once the input is known
            # to be good.
            tf.config.experimental.enable_op_determinism()
        requested = self.runs if runs is None else list(runs)
        pending = [r for r in requested if r not in self.finished]
        skipped = [r for r in requested if r in self.finished]
        if progress is None:
            progress = Progress(len(pending), config.steps)
        if skipped:
            progress.print(
                f"{len(skipped)} of {len(requested)} runs already "
                f"finished in {config.workdir}: skipped."
            )
        watch = Stopwatch()
        watch.seconds["loading"] = self.seconds_loading
        self.seconds_loading = 0.0  # Counted once, in the first call.
        slots, results, busy = self._slots, {}, []
        for spec in pending:
            with watch.timing("loading"):
                splits = self._target_splits(spec.test_domain)
            trial_seed = seeds.trial_seed(config.seed, spec.trial)
            key = slot_key(
                spec.surgery,
                trial_seed,
                splits.image_shape,
                splits.num_classes,
                len(splits.source_domains),
            )
            if key not in slots:
                with watch.timing("building"):
                    # One model per surgery of the current trial.
                    slots = {k: s for k, s in slots.items() if k[1] == trial_seed}
                    self._slots = slots
                    slots[key] = ModelSlot(
                        config,
                        spec.surgery,
                        trial_seed,
                        splits.image_shape,
                        splits.num_classes,
                        len(splits.source_domains),
                        self.strategy,
                    )
            try:
                start_weights = self._stage_weights(spec, progress)
                result = self._train(
                    spec, splits, slots[key], progress, start_weights
                )
            except RunBusy as reason:
                progress.print(f"{spec.name}: {reason}: skipped.")
                busy.append(spec)
                continue
            timing = result["timing"]
            watch.seconds["tracing"] += timing["tracing"]
            watch.seconds["training"] += timing["train"] - timing["tracing"]
            for name in ("evaluation", "writing"):
                watch.seconds[name] += timing[name]
            watch.seconds["other"] += timing["total"] - (
                timing["train"] + timing["evaluation"] + timing["writing"]
            )
            results[spec] = result
            self.finished.append(spec)
        report_paths, found, problems = [], [], []
        if self.writes_files:
            with watch.timing("writing"):
                found = tables.collect(
                    config.workdir, config.selection, problems
                )
                report_paths = tables.write_reports(
                    config.workdir, found, problems
                )
        return ExperimentSummary(
            results=results,
            skipped=skipped,
            busy=busy,
            tables=found,
            markdown=tables.markdown(found, problems),
            report_paths=report_paths,
            timing=dict(watch.seconds),
        )

    def _stage_weights(self, spec, progress):
        """The weights run `spec` starts from: None, or the last weights of
        its pretraining stage, trained first if it has not finished."""
        if self.stage is None:
            return None
        stage_spec = RunSpec("erm", spec.test_domain, spec.trial)
        paths = files.RunPaths.of_run(self.stage.config, stage_spec)
        if stage_spec in self.stage.finished:
            return paths.last_weights
        progress.print(
            f"{spec.test_domain}/trial_{spec.trial}: pretraining stage "
            f"({self.stage.config.steps} steps of erm) in {paths.root}"
        )
        waiting = False
        while True:
            summary = self.stage.run(
                Progress(
                    1,
                    self.stage.config.steps,
                    stream=getattr(progress, "stream", None),
                ),
                runs=[stage_spec],
            )
            if stage_spec not in summary.busy or os.path.exists(paths.results):
                break
            # Another process (a sweep's other worker) trains it: every
            # run of this target and trial needs it, so wait.
            if not waiting:
                progress.print(
                    f"Waiting for the process training {paths.root} "
                    f"(checking every {_STAGE_POLL_SECONDS} s)."
                )
                waiting = True
            time.sleep(_STAGE_POLL_SECONDS)
        return paths.last_weights

    def _train(self, spec, splits, slot, progress, start_weights=None):
        """One run under its lock; on Ctrl-C or SIGTERM, says what is kept."""
        paths = files.RunPaths.of_run(self.config, spec)
        lock = RunLock(paths.root) if self.writes_files else nullcontext()
        with lock:
            if self.writes_files and os.path.exists(paths.results):
                # Finished by another process since this one started.
                raise RunBusy("finished by another process")
            try:
                with interrupts.catch_interrupts():
                    return train_run(
                        self.config,
                        spec,
                        splits,
                        slot,
                        writes_files=self.writes_files,
                        progress=progress,
                        domains=self.domains,
                        start_weights=start_weights,
                    )
            except tf.errors.InvalidArgumentError as error:
                if _UNREADABLE_IMAGE not in error.message:
                    raise
                # The image decoder's check (`keras_gs.data.images`), which
                # names the file (read when the run draws or evaluates).
                raise InputError(
                    " ".join(error.message.split("\n")[0].split())
                    + ". Remove the file, or check the images before "
                    "training (check_images='header', on_bad_image='skip')."
                ) from None
            except KeyboardInterrupt:
                progress.interrupted(_backup_step(self.config, spec))
                raise
            except interrupts.Terminated:
                progress.interrupted(
                    _backup_step(self.config, spec), by="SIGTERM"
                )
                raise

    # -- data -----------------------------------------------------------------

    def _load(self, test_domain):
        return run_inputs.load_splits(self.config, test_domain)

    def _target_splits(self, target):
        if target not in self._splits:
            # Keep one target's splits at a time: image datasets cache
            # their decoded images per split.
            self._splits = {target: self._load(target)}
        return self._splits[target]

    # -- the work directory -------------------------------------------------

    def _check_workdir(self, spec) -> bool:
        """Whether `spec` has finished; raises if made with other settings
        or if its files are damaged (naming them)."""
        paths = files.RunPaths.of_run(self.config, spec)
        previous = files.read_run_json(paths.config, "run configuration")
        if previous is None:
            if os.path.exists(paths.results):
                # A results file without the settings it was made with.
                files.finished_results(paths.root)
            return False
        ours = self.config.result_settings()
        theirs = files.run_settings(previous)
        listed = differing_settings(theirs, ours)
        if listed:
            raise ValueError(
                f"The work directory already holds {spec.name} made with "
                f"other settings ({listed}). Use another `workdir`, or "
                f"remove {paths.root}."
            )
        return files.finished_results(paths.root) is not None


_UNREADABLE_IMAGE = "Not a readable image file"
_STAGE_POLL_SECONDS = 5


def run_experiment(config, progress: Progress | None = None):
    """`Experiment(config).run(progress)`: runs the protocol; see there."""
    return Experiment(config).run(progress)


def _covered(spec, runs):
    """`spec` if `runs` holds it; a ValueError naming the valid ones if not."""
    if spec not in runs:
        raise ValueError(
            f"The experiment has no run {spec.name}. Valid: "
            f"{', '.join(r.name for r in runs)}"
        )
    return spec


def _backup_step(config, spec):
    """The step of the newest backup of `spec` (0 if none)."""
    paths = files.RunPaths.of_run(config, spec)
    progress = backup.latest_progress(paths.checkpoints)
    return progress["step"] if progress else 0
