"""Checks a sweep's input, then creates or finds it (`prepare`).

Everything a user can get wrong is checked before anything is written:
the settings, the work directory (a sweep of other settings there), the
storage (reachable, no other sweep of the same name), the dataset and the
runs already in the work directory. Then the work directory, the storage
and the sweep's jobs are created, and `sweep.json` records the sweep.
"""

import dataclasses
import os

from keras_gs import experiment
from keras_gs.utils.atomic_files import read_json
from keras_gs.utils.atomic_files import write_json
from keras_gs.sweeps.config import comparable
from keras_gs.sweeps.config import differences
from keras_gs.sweeps.storage import STORAGE_ERRORS
from keras_gs.sweeps.storage import Sweep
from keras_gs.sweeps.storage import explain
from keras_gs.sweeps.storage import open_storage


def prepare(config):
    """Checks `config` (a `SweepConfig`), then creates or finds its sweep.

    Raises:
        ValueError or FileNotFoundError, with one line naming the bad
        setting, before anything is written.

    Returns:
        The `storage.Sweep`.
    """
    config.validate()
    _check_sweep_file(config)
    try:
        return _prepare(config)
    except STORAGE_ERRORS as error:
        raise explain(config.storage_url, error) from None


def _prepare(config):
    url = config.storage_url
    storage = None
    if url.kind != "sqlite" or os.path.exists(url.path):
        # Reachable, and no other sweep of the same name there.
        storage = _open(config, create=False)
        Sweep.find(storage, config)
    # The experiment's settings, the data, the target domains, and the
    # runs of configuration 0 (the flagfile's) already in the work
    # directory.
    base = experiment.Experiment(
        dataclasses.replace(config.experiment, workdir=config.hparams_dir(0))
    )
    os.makedirs(config.workdir, exist_ok=True)
    if storage is None:
        storage = _open(config, create=True)
    sweep = Sweep.create(storage, config, base.targets)
    if not os.path.exists(config.sweep_file):
        write_json(
            config.sweep_file,
            {
                "definition": sweep.definition,
                "targets": sweep.targets,
                "storage": str(url),
            },
        )
    return sweep


def existing(config):
    """The sweep of `config` as its storage holds it, for reading (no
    heartbeats); a ValueError if there is none."""
    storage = _open(config, create=False, heartbeats=False)
    try:
        return Sweep.load(storage, config.sweep_name)
    except STORAGE_ERRORS as error:
        raise explain(config.storage_url, error) from None


def _check_sweep_file(config):
    try:
        previous = read_json(config.sweep_file)
    except FileNotFoundError:
        return
    theirs = previous.get("definition", {})
    ours = comparable(config.definition(), theirs)
    if theirs == ours:
        return
    if theirs.get("name") not in (None, ours["name"]):
        # The work directory's name is the sweep's, unless --sweep_name.
        raise ValueError(
            f"The work directory holds the sweep {theirs['name']!r}, not "
            f"{ours['name']!r} (was it renamed?). Received: "
            f"workdir={config.workdir!r}. Give --sweep_name="
            f"{theirs['name']} to go on with it."
        )
    raise ValueError(
        f"The work directory holds another sweep. Received: "
        f"workdir={config.workdir!r} ({differences(ours, theirs)}). Use "
        "another workdir, or the same settings."
    )


def _open(config, create, heartbeats=True):
    return open_storage(
        config.storage_url,
        heartbeat_interval=config.heartbeat_interval if heartbeats else None,
        grace_period=config.grace_seconds,
        max_retry=config.max_retry,
        create=create,
        retry_seconds=config.storage_retry_seconds,
    )

