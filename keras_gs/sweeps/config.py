"""`SweepConfig`: the settings of a hyper-parameter sweep."""

import dataclasses
import os

import optuna

from keras_gs.experiment import ExperimentConfig
from keras_gs.sweeps import registry
from keras_gs.sweeps.jobs import Job
from keras_gs.sweeps.storage_url import StorageURL

SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median")
SWEEP_FILE = "sweep.json"
DATABASE = "sweep.db"


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A sweep: `n_hparams` configurations per surgery, target and trial.

    Every job is one run of the protocol (`keras_gs.experiment`):
    configuration `index` of `experiment.surgery[s]`, target `t`, trial `n`,
    written to `<workdir>/hparams_<index>/<dataset>/<surgery>/<t>/trial_<n>/`
    (so each `hparams_<index>` folder is an experiment's work directory, and
    `hparams_0` is exactly what `tools/train.py` with the flagfile makes).

    Args:
        experiment: `ExperimentConfig`, the flagfile's settings:
            configuration 0 of every search, and what all configurations
            share (dataset, surgeries, targets, trials, steps, workdir).
        n_hparams: int, configurations per (surgery, target, trial).
            Defaults to `20` (DomainBed's).
        sampler: str, `"random"` (DomainBed's random search: configuration
            i > 0 is `registry.draw`) or `"tpe"` (Optuna's TPE proposes
            configurations 1, 2, ... from the finished ones of the same
            search). Defaults to `"random"`.
        pruner: str, `"none"` or `"median"` (Optuna's MedianPruner stops a
            run whose source-validation accuracy falls below the median of
            the search's finished runs at the same step). Defaults to
            `"none"`.
        name: str or None, the sweep's name in the storage; None for the
            work directory's base name. Defaults to `None`.
        storage: str or None, an Optuna storage URL (`sqlite:///...`, a
            relative path being relative to the work directory,
            `postgresql://user:password@host:port/database`); None for
            `sqlite:///<workdir>/sweep.db`. Defaults to `None`.
        heartbeat_interval: int, seconds between a running job's heartbeats.
            Defaults to `30`.
        grace_period: int or None, seconds without a heartbeat after which a
            job counts as dead and is run again; None for 4 heartbeats.
            Defaults to `None`.
        max_retry: int, how many times a dead job is run again. Defaults to
            `3`.
        storage_retry_seconds: float, how long a worker waits for an
            unreachable storage (`storage_retry.add_retries`). Defaults to
            `120`.

    Example:

    ```python
    from keras_gs import experiment, sweeps

    config = sweeps.SweepConfig(
        experiment.ExperimentConfig(steps=300, trials=3, workdir="sweep"),
        n_hparams=5,
    )
    ```
    """

    experiment: ExperimentConfig
    n_hparams: int = 20
    sampler: str = "random"
    pruner: str = "none"
    name: str | None = None
    # Not in the repr: the URL may hold a password (`StorageURL`).
    storage: str | None = dataclasses.field(default=None, repr=False)
    heartbeat_interval: int = 30
    grace_period: int | None = None
    max_retry: int = 3
    storage_retry_seconds: float = 120

    def validate(self) -> "SweepConfig":
        """Raises a ValueError naming the first bad setting; returns self.

        Checks the sweep's own settings only (the experiment's are checked
        by `experiment.validate()`, which loads the registries).
        """
        for name in ("n_hparams", "heartbeat_interval"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: "
                    f"{name}={value!r}"
                )
        if self.max_retry < 0:
            raise ValueError(
                "`max_retry` must be >= 0. Received: "
                f"max_retry={self.max_retry}"
            )
        if self.grace_period is not None and not (
            self.grace_period > self.heartbeat_interval
        ):
            raise ValueError(
                "`grace_period` must exceed `heartbeat_interval` "
                f"({self.heartbeat_interval} s). Received: "
                f"grace_period={self.grace_period}"
            )
        for name, valid in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"Unknown {name}. Received: {name}="
                    f"{getattr(self, name)!r}. Valid: {', '.join(valid)}"
                )
        self.storage_url  # A ValueError for an unknown scheme.
        if not self.sweep_name:
            raise ValueError(
                "The sweep needs a name: give `name`, or a `workdir` with a "
                f"base name. Received: workdir={self.workdir!r}"
            )
        return self

    @property
    def workdir(self) -> str:
        return self.experiment.workdir

    @property
    def sweep_name(self) -> str:
        if self.name:
            return self.name
        return os.path.basename(os.path.abspath(self.workdir))

    @property
    def storage_url(self) -> StorageURL:
        """The storage's `StorageURL` (a relative SQLite path is relative
        to the work directory); a ValueError for an unknown scheme."""
        return StorageURL(
            self.storage or "sqlite:///" + DATABASE,
            workdir=os.path.abspath(self.workdir),
        )

    @property
    def sweep_file(self) -> str:
        return os.path.join(self.workdir, SWEEP_FILE)

    @property
    def grace_seconds(self) -> int:
        return self.grace_period or 4 * self.heartbeat_interval

    def definition(self) -> dict:
        """What makes two sweeps the same, as JSON-ready values.

        The experiment's result-changing settings, the surgeries, targets
        and trials, the number of configurations, the sampler and pruner,
        and the registry's distributions (so that a changed registry is a
        different sweep). Where files and the storage are is not part of
        it: machines may keep their runs in different places.
        """
        experiment = self.experiment
        return {
            "name": self.sweep_name,
            "dataset": experiment.dataset,
            "surgery": list(experiment.surgery),
            "test_domains": experiment.to_dict()["test_domains"],
            "trials": experiment.trials,
            "n_hparams": self.n_hparams,
            "sampler": self.sampler,
            "pruner": self.pruner,
            # Not a result setting of a run (a run may resume either way),
            # but a sweep is one or the other throughout.
            "deterministic": experiment.deterministic,
            "settings": experiment.result_settings(),
            "space": {
                surgery: {
                    name: optuna.distributions.distribution_to_json(d)
                    for name, d in registry.space(
                        experiment.dataset, surgery, experiment.warmup_steps
                    ).items()
                }
                for surgery in experiment.surgery
            },
        }

    def hparams_dir(self, index: int) -> str:
        """The experiment work directory of configuration `index`."""
        return os.path.join(self.workdir, f"hparams_{index}")

    def experiment_config(self, job: Job, hparams: dict) -> ExperimentConfig:
        """The `ExperimentConfig` of `job`'s run, with settings `hparams`.

        Its `trials` covers the job's trial, so that the run's `flags.txt`
        repeats it with `tools/train.py`.
        """
        config = registry.configure(self.experiment, job.surgery, hparams)
        prefix = f"{job.surgery}."
        return dataclasses.replace(
            config,
            surgery=(job.surgery,),
            # The job's surgery's options only (the others' would name a
            # surgery the run does not train).
            surgery_options=tuple(
                e for e in config.surgery_options if e.startswith(prefix)
            ),
            trials=job.trial + 1,
            workdir=self.hparams_dir(job.index),
        )


# Added to a sweep's definition after sweeps were run without it: a sweep
# that does not record it is compared without it.
ADDED_TO_DEFINITION = ("deterministic",)


def comparable(ours: dict, theirs: dict) -> dict:
    """`ours` without what an older sweep's definition `theirs` lacks: the
    keys of `ADDED_TO_DEFINITION`, and the result-changing settings added
    to `ExperimentConfig` since (`warmup_steps`...) where ours are at their
    defaults, the values the older sweep's runs had."""
    ours = {
        k: v
        for k, v in ours.items()
        if k in theirs or k not in ADDED_TO_DEFINITION
    }
    if isinstance(ours.get("settings"), dict) and isinstance(
        theirs.get("settings"), dict
    ):
        defaults = ExperimentConfig().result_settings()
        ours["settings"] = {
            k: v
            for k, v in ours["settings"].items()
            if k in theirs["settings"] or k not in defaults or v != defaults[k]
        }
    return ours


def differences(ours: dict, theirs: dict) -> str:
    """The settings two definitions differ in, as `k=<theirs> there, <ours>
    now`, short (long values elided); empty when they are the same.

    The searched space follows from the surgeries: when those differ it is
    not listed.
    """
    keys = sorted(set(ours) | set(theirs))
    if ours.get("surgery") != theirs.get("surgery"):
        keys = [k for k in keys if k != "space"]
    parts = []
    for key in keys:
        if ours.get(key) == theirs.get(key):
            continue
        if isinstance(ours.get(key), dict) and isinstance(
            theirs.get(key), dict
        ):
            inner = differences(ours[key], theirs[key])
            parts.append(f"{key}: {inner}")
        else:
            parts.append(
                f"{key}={_short(theirs.get(key))} there, "
                f"{_short(ours.get(key))} now"
            )
    return "; ".join(parts)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
