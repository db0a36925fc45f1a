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
