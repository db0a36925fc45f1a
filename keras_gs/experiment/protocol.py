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

import tensorflow as tf

from keras_gs import data as data_lib
from keras_gs import distribute
from keras_gs.data import domainnet
from keras_gs.data import rotated_digits
from keras_gs.data import tfds_builders
from keras_gs.experiment import checkpoints
from keras_gs.experiment.config import ExperimentConfig
from keras_gs.experiment import distribution
from keras_gs.experiment import files
from keras_gs.experiment import interrupts
from keras_gs.experiment import seeds
from keras_gs.experiment import tables
from keras_gs.experiment.model_slot import ModelSlot
from keras_gs.experiment.model_slot import slot_key
from keras_gs.experiment.progress import Progress
from keras_gs.experiment.run import RunSpec
from keras_gs.experiment.run import train_run


@dataclasses.dataclass
class ExperimentSummary:
    """What `Experiment.run` returns.

    Args:
        results: dict `RunSpec -> results` of the runs trained now.
        skipped: list of `RunSpec` already finished before.
        tables: list of `tables.ResultsTable` of the whole work directory.
        markdown: str, the tables as Markdown.
        report_paths: list of str, `results.md`, `.tex`, `.png`.
        timing: dict of seconds: `loading`, `building` (new models),
            `tracing` (estimated: the first period of a new model beyond a
            typical one), `training`, `evaluation`, `writing`, `other`, and
            `total`.
    """

    results: dict
    skipped: list
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
    """

    def __init__(self, config, runs=None):
        self.config = config.validate()
        started = time.perf_counter()
        self.strategy = distribution.make_strategy(config.strategy)
        self.writes_files = distribute.is_chief(self.strategy)
        requested = (
            None if config.test_domains == "all" else config.test_domains
        )
        first = self._load(requested[0] if requested else None)
        self._splits = {first.test_domains[0]: first}
        self.domains = _dataset_order(
            config.dataset, first.test_domains + first.source_domains
        )
        self.targets = (
            self.domains
            if requested is None
            else _resolve(requested, self.domains)
        )
        self.runs = [
            RunSpec(surgery, target, trial)
            for trial in range(config.trials)
            for target in self.targets
            for surgery in config.surgery
        ]
        if runs is not None:
            self.runs = [_covered(r, self.runs) for r in runs]
        self.finished = [r for r in self.runs if self._check_workdir(r)]
        self.seconds_loading = time.perf_counter() - started
        # Models by `slot_key`, kept between calls of `run`.
        self._slots = {}

    # -- the loop -----------------------------------------------------------

    def run(
        self, progress: Progress | None = None, runs=None
    ) -> ExperimentSummary:
        """Trains every unfinished run, then writes the results table.

        Calling it again trains more runs on the models already built (a
        run of the same surgery and trial reuses its traced model).

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
        timing = dict.fromkeys(
            (
                "building",
                "tracing",
                "training",
                "evaluation",
                "writing",
                "other",
            ),
            0.0,
        )
        timing["loading"] = self.seconds_loading
        self.seconds_loading = 0.0  # Counted once, in the first call.
        slots = self._slots
        results = {}
        for spec in pending:
            started = time.perf_counter()
            splits = self._target_splits(spec.test_domain)
            timing["loading"] += time.perf_counter() - started
            trial_seed = seeds.trial_seed(config.seed, spec.trial)
            key = slot_key(
                spec.surgery,
                trial_seed,
                splits.image_shape,
                splits.num_classes,
                len(splits.source_domains),
            )
            if key not in slots:
                started = time.perf_counter()
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
                timing["building"] += time.perf_counter() - started
            slot = slots[key]
            try:
                with interrupts.catch_interrupts():
                    result = train_run(
                        config,
                        spec,
                        splits,
                        slot,
                        writes_files=self.writes_files,
                        progress=progress,
                        domains=self.domains,
                    )
            except KeyboardInterrupt:
                progress.interrupted(_backup_step(config, spec))
                raise
            run_timing = result["timing"]
            tracing = (
                run_timing["first_period_excess"]
                if run_timing["new_model"]
                else 0.0
            )
            timing["tracing"] += tracing
            timing["training"] += run_timing["train"] - tracing
            timing["evaluation"] += run_timing["evaluation"]
            timing["writing"] += run_timing["writing"]
            timing["other"] += run_timing["fit"] - (
                run_timing["train"]
                + run_timing["evaluation"]
                + run_timing["writing"]
            )
            results[spec] = result
            self.finished.append(spec)
        report_paths, found = [], []
        if self.writes_files:
            started = time.perf_counter()
            found = tables.collect(config.workdir, config.selection)
            report_paths = tables.write_reports(config.workdir, found)
            timing["writing"] += time.perf_counter() - started
        return ExperimentSummary(
            results=results,
            skipped=skipped,
            tables=found,
            markdown=tables.markdown(found),
            report_paths=report_paths,
            timing=timing,
        )

    # -- data -----------------------------------------------------------------

    def _load(self, test_domain):
        config = self.config
        return data_lib.load(
            config.dataset,
            config.data_dir,
            test_domains=test_domain,
            split_seed=config.split_seed,
            test_on=config.test_on,
            image_size=config.image_size,
            augmentation=config.augmentation,
            augmentation_seed=config.seed,
            check_images=config.check_images,
            manual_dir=config.manual_dir,
        )

    def _target_splits(self, target):
        if target not in self._splits:
            # Keep one target's splits at a time: image datasets cache
            # their decoded images per split.
            self._splits = {target: self._load(target)}
        return self._splits[target]

    # -- the work directory -------------------------------------------------

    def _check_workdir(self, spec) -> bool:
        """Whether `spec` has finished; raises if made with other settings."""
        paths = files.RunPaths.of_run(self.config, spec)
        try:
            previous = files.read_json(paths.config)
        except FileNotFoundError:
            return False
        except ValueError:
            # A config.json cut short cannot exist (atomic writes), but a
            # hand-edited one can.
            raise ValueError(
                f"{paths.config} is not valid JSON; remove {paths.root} to "
                "run it again."
            ) from None
        ours = self.config.result_settings()
        # A setting added since the run was written has its default there.
        defaults = ExperimentConfig().result_settings()
        differ = {
            k: (previous.get(k, defaults[k]), v)
            for k, v in ours.items()
            if previous.get(k, defaults[k]) != v
        }
        if differ:
            listed = ", ".join(
                f"{k}={old!r} there, {new!r} now"
                for k, (old, new) in differ.items()
            )
            raise ValueError(
                f"The work directory already holds {spec.name} made with "
                f"other settings ({listed}). Use another `workdir`, or "
                f"remove {paths.root}."
            )
        return os.path.exists(paths.results)


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
    paths = files.RunPaths.of_run(config, spec)
    loaded = checkpoints.load_resume(paths.resume)
    return loaded[1]["step"] if loaded else 0


def _dataset_order(dataset, domains):
    """`domains` in the dataset's own order (the table's columns)."""
    declared = {
        "rotated_digits": rotated_digits.DOMAINS,
        "domainnet": domainnet.DOMAINS,
        **{name: b.DOMAINS for name, b in tfds_builders.BUILDERS.items()},
    }.get(dataset)
    if declared is None:
        return sorted(domains)
    return sorted(domains, key=lambda d: list(declared).index(d))


def _resolve(requested, domains):
    """Matches names as `keras_gs.data.load` does (case, "_" for " ")."""

    def key(name):
        return str(name).lower().replace(" ", "_")

    by_key = {key(d): d for d in domains}
    resolved = []
    for name in requested:
        if key(name) not in by_key:
            raise ValueError(
                f"Unknown test domain. Received: test_domains={name!r}. "
                f"Valid: all, {', '.join(domains)}"
            )
        if by_key[key(name)] not in resolved:
            resolved.append(by_key[key(name)])
    return resolved
