"""The files of a run and how they are written (atomically).

A run's directory is `<workdir>/<dataset>/<surgery>/<test_domain>/trial_<n>/`:

- `config.json`, `flags.txt`: the resolved settings (the latter a
  `tools/train.py` flagfile for this run's surgery and target);
- `results.json`: written once, when the run has finished (see
  `run.train_run`); its presence marks the run as done;
- `events.out.tfevents.*`: TensorBoard logs;
- `checkpoints/`: `backup/` (what an interrupted run resumes from: see
  `backup`), `best.weights.h5` (the best source-validation step),
  `last.weights.h5` and, with `checkpoint_every`, `step_<n>.weights.h5`;
- `.lock`: held by the process training the run (`run_lock`).

Every file is written through `keras_gs.utils.atomic_files` (re-exported here),
so a process killed at any moment leaves either the old file or the new
one, never half of one.
"""

import dataclasses
import os

from keras_gs.experiment.errors import InputError
from keras_gs.experiment.errors import differing_settings

from keras_gs.utils.atomic_files import atomic_path  # noqa: F401 (re-exported)
from keras_gs.utils.atomic_files import copy  # noqa: F401
from keras_gs.utils.atomic_files import read_json  # noqa: F401
from keras_gs.utils.atomic_files import write_json  # noqa: F401
from keras_gs.utils.atomic_files import write_text  # noqa: F401

RESULTS = "results.json"
CONFIG = "config.json"
FLAGS = "flags.txt"
CHECKPOINTS = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where one run's files are."""

    root: str

    @classmethod
    def of(cls, workdir, dataset, surgery, test_domain, trial) -> "RunPaths":
        return cls(
            os.path.join(
                workdir,
                dataset,
                surgery,
                domain_dirname(test_domain),
                f"trial_{trial}",
            )
        )

    @classmethod
    def of_run(cls, config, spec) -> "RunPaths":
        """The directory of run `spec` (a `RunSpec`) of experiment `config`."""
        return cls.of(
            config.workdir,
            config.dataset,
            spec.surgery,
            spec.test_domain,
            spec.trial,
        )

    @property
    def results(self) -> str:
        return os.path.join(self.root, RESULTS)

    @property
    def config(self) -> str:
        return os.path.join(self.root, CONFIG)

    @property
    def flags(self) -> str:
        return os.path.join(self.root, FLAGS)

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.root, CHECKPOINTS)

    @property
    def backup(self) -> str:
        return os.path.join(self.checkpoints, "backup")

    @property
    def best_weights(self) -> str:
        return os.path.join(self.checkpoints, BEST_WEIGHTS)

    @property
    def last_weights(self) -> str:
        return os.path.join(self.checkpoints, LAST_WEIGHTS)

    def step_weights(self, step: int) -> str:
        return os.path.join(self.checkpoints, f"step_{step}.weights.h5")


def domain_dirname(domain: str) -> str:
    """A domain name as a directory name ("Real World" -> "Real_World")."""
    return str(domain).replace(" ", "_").replace(os.sep, "_")


class RunFileError(InputError):
    """A run's file that cannot be used, named, with what to do."""


def read_run_json(path: str, what: str) -> dict | None:
    """A run's `config.json` or `results.json`; None if there is none.

    Raises:
        RunFileError: the file is not a JSON object (empty, cut short,
            edited by hand...), naming it and how to start the run over.
    """
    try:
        value = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RunFileError(
            f"{path} is not a valid {what} ({' '.join(str(error).split())}). "
            f"Remove {os.path.dirname(path)} to run it again."
        ) from None
    if not isinstance(value, dict):
        raise RunFileError(
            f"{path} is not a valid {what} (a JSON {type(value).__name__}, "
            f"not an object). Remove {os.path.dirname(path)} to run it again."
        )
    return value


def run_settings(config: dict) -> dict:
    """The result-changing settings a run's `config.json` records (those
    added since it was written at their defaults)."""
    from keras_gs.experiment.config import ExperimentConfig

    defaults = ExperimentConfig().result_settings()
    return {k: config.get(k, v) for k, v in defaults.items()}


def finished_results(root: str) -> dict | None:
    """The `results.json` of the run in `root`, checked; None if unfinished.

    The results must be a finished run's, of the run this directory is
    (its dataset, surgery, target and trial), made with the settings of
    its `config.json`, up to its last step.

    Raises:
        RunFileError: naming the file and what disagrees.
    """
    paths = RunPaths(root)
    results = read_run_json(paths.results, "results file")
    if results is None:
        return None
    config = read_run_json(paths.config, "run configuration")

    def refuse(reason):
        raise RunFileError(
            f"{paths.results} {reason}. Remove {root} to run it again."
        )

    missing = [
        k
        for k in ("dataset", "surgery", "test_domain", "trial", "history")
        if k not in results
    ]
    if missing:
        refuse(f"lacks {', '.join(missing)}: not a finished run's results")
    if not isinstance(results["history"], list) or not results["history"]:
        refuse("has no evaluation")
    parts = os.path.normpath(root).split(os.sep)[-4:]
    identity = [
        str(results["dataset"]),
        str(results["surgery"]),
        domain_dirname(results["test_domain"]),
        f"trial_{results['trial']}",
    ]
    if parts != identity:
        refuse(
            f"is the run {'/'.join(identity)}, not the run of its directory "
            f"{'/'.join(parts)}"
        )
    if config is None:
        refuse(f"has no {CONFIG} beside it")
    settings = run_settings(config)
    recorded = results.get("settings", settings)
    listed = differing_settings(recorded, settings, now=f"in {CONFIG}")
    if listed:
        refuse(f"was made with other settings than its {CONFIG} ({listed})")
    last = results["history"][-1].get("step")
    if last != settings["steps"]:
        refuse(
            f"ends at step {last}, but the run has {settings['steps']} steps"
        )
    return results
