"""A trained run's directory: its settings, checkpoints, data and network.

Rebuilds what the conflict analysis needs from a run written by
`keras_gs.experiment` (`<workdir>/<dataset>/<surgery>/<test_domain>/
trial_<n>/`, see `keras_gs.experiment.files`): the `ExperimentConfig` from
`config.json`, the held-out target's splits (`keras_gs.data.load` with the
run's settings, without augmentation: the gradients are measured on the
images themselves), and the network (`keras_gs.backbones.get`) into which
each checkpoint's weights are loaded.
"""

import dataclasses
import os
import re
from collections.abc import Sequence

from keras_gs.experiment import files
from keras_gs.experiment import run_inputs
from keras_gs.experiment.config import ExperimentConfig
from keras_gs.utils.choices import check_choice

BEST = "best"
LAST = "last"
_STEP_FILE = re.compile(r"^step_(\d+)\.weights\.h5$")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One weights file of a run.

    Args:
        name: str, `"step_<n>"`, `"best"` or `"last"`.
        path: str, the `.weights.h5` file.
        step: int or None, the training step of the weights (None when
            unknown: `best`/`last` of a run without `results.json`).
    """

    name: str
    path: str
    step: int | None


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """A run's directory, read (see `open_run`).

    Args:
        paths: the run's `keras_gs.experiment.files.RunPaths`.
        config: its `ExperimentConfig` (one surgery, one target).
        settings: dict, `config.json` as written (with `trial`,
            `trial_seed`).
        results: dict or None, `results.json` when the run has finished.
    """

    paths: files.RunPaths
    config: ExperimentConfig
    settings: dict
    results: dict | None

    @property
    def surgery(self) -> str:
        return self.config.surgery[0]

    @property
    def test_domain(self) -> str:
        return self.config.test_domains[0]

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint on disk: `step_<n>` by step, then best, last."""
        directory = self.paths.checkpoints
        names = os.listdir(directory) if os.path.isdir(directory) else []
        found = []
        for name in names:
            match = _STEP_FILE.match(name)
            if match:
                step = int(match.group(1))
                path = self.paths.step_weights(step)
                found.append(Checkpoint(f"step_{step}", path, step))
        found.sort(key=lambda c: c.step)
        selection = (self.results or {}).get("selection", {})
        steps = {
            BEST: selection.get("best_val", {}).get("step"),
            LAST: (self.results or {}).get("steps"),
        }
        for name, path in (
            (BEST, self.paths.best_weights),
            (LAST, self.paths.last_weights),
        ):
            if os.path.exists(path):
                found.append(Checkpoint(name, path, steps[name]))
        return found

    def select(self, names: Sequence[str] | None = None) -> list[Checkpoint]:
        """The checkpoints to analyze, ordered by step.

        Args:
            names: checkpoint names (`"step_20"` or `"20"`, `"best"`,
                `"last"`), or None: every `step_<n>` checkpoint, or `best`
                and `last` when there is none.

        Returns:
            A non-empty list of `Checkpoint`.

        Raises:
            FileNotFoundError: if the run has no checkpoint.
            ValueError: naming a checkpoint that is not there, and those
                that are.
        """
        available = self.checkpoints()
        if not available:
            raise FileNotFoundError(
                f"No checkpoint in {self.paths.checkpoints}: train with "
                "--checkpoint_every=N to keep the weights every N steps."
            )
        if not names:
            steps = [c for c in available if c.name.startswith("step_")]
            return steps or available
        by_name = {c.name: c for c in available}
        chosen = []
        for name in names:
            key = f"step_{name}" if str(name).isdigit() else str(name)
            if key not in by_name:
                check_choice(
                    name,
                    list(by_name),
                    "checkpoints",
                    f"checkpoint in {self.paths.checkpoints}",
                )
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        return sorted(chosen, key=_order)


def open_run(path: str) -> RunDirectory:
    """Reads a run's `config.json` (and `results.json` if there).

    Args:
        path: str, the run's directory.

    Returns:
        A `RunDirectory`.

    Raises:
        FileNotFoundError: naming the missing directory or `config.json`.
        ValueError: if `config.json` is not a run's settings.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No run directory at {path}")
    paths = files.RunPaths(path)
    if not os.path.exists(paths.config):
        raise FileNotFoundError(
            f"No {files.CONFIG} in {path}: not a run directory of "
            "tools/train.py (<workdir>/<dataset>/<surgery>/<target>/"
            "trial_<n>/)."
        )
    try:
        settings = files.read_json(paths.config)
    except ValueError:
        raise ValueError(f"{paths.config} is not valid JSON.") from None
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    try:
        config = ExperimentConfig(
            **{k: v for k, v in settings.items() if k in fields}
        )
    except TypeError as error:
        raise ValueError(f"{paths.config}: {error}") from None
    if isinstance(config.test_domains, str) or len(config.test_domains) != 1:
        raise ValueError(
            f"{paths.config} is not one run's settings: it must name one "
            f"target domain. Received: test_domains={config.test_domains!r}"
        )
    if len(config.surgery) != 1:
        raise ValueError(
            f"{paths.config} is not one run's settings: it must name one "
            f"surgery. Received: surgery={list(config.surgery)}"
        )
    results = None
    if os.path.exists(paths.results):
        try:
            results = files.read_json(paths.results)
        except ValueError:
            results = None
    return RunDirectory(paths, config, settings, results)


def load_splits(
    config, data_dir: str | None = None, manual_dir: str | None = None
):
    """The run's `DomainSplits`, as `keras_gs.experiment` loads them.

    Args:
        config: the run's `ExperimentConfig`.
        data_dir: str or None, overrides the run's `data_dir` (the data
            moved). Defaults to `None`.
        manual_dir: str or None, overrides the run's `manual_dir`.
            Defaults to `None`.

    Returns:
        A `keras_gs.data.DomainSplits`, without augmentation (the
        gradients are measured on the images themselves).
    """
    return run_inputs.load_splits(
        config,
        config.test_domains[0],
        augmentation="none",
        data_dir=data_dir,
        manual_dir=manual_dir,
    )


def build_network(config, splits):
    """The run's network (float32, random weights) for its checkpoints.

    Args:
        config: the run's `ExperimentConfig`.
        splits: its `DomainSplits` (image shape, number of classes).

    Returns:
        A `keras.Model` built as the experiment builds it, into which
        `load_weights(checkpoint.path)` loads a checkpoint.
    """
    return run_inputs.build_network(
        dataclasses.replace(config, mixed_precision=False),
        splits.image_shape,
        splits.num_classes,
    )


def _order(checkpoint):
    return (checkpoint.step is None, checkpoint.step or 0)
