"""`RunBackup`: round trip, damaged files, other models, full or read-only
disks."""

import contextlib
import os
import subprocess

import keras
import numpy as np
import pytest

import keras_gs
from keras_gs.experiment.backup import BackupError
from keras_gs.experiment.backup import RunBackup

from disk_faults import tmpfs
from tiny_models import compile_model, make_domains, make_network

SETTINGS = {"lr": 0.1, "steps": 40}


def trained_model(steps=2, seed=1):
    model = compile_model(
        keras_gs.GradSurgeryModel(make_network(), "agr-rand", seed=seed),
        optimizer=keras.optimizers.Adam(0.01),
        metrics=["accuracy"],
    )
    model.fit(
        keras_gs.data.zip_domains(make_domains(), 4, seed=0),
        steps_per_epoch=steps,
        verbose=0,
    )
    return model


def state(model):
    return [v.numpy() for v in model.variables + model.optimizer.variables]


def equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def models():
    """Two models of one architecture with other values everywhere."""
    return trained_model(), trained_model(steps=3, seed=2)


def test_round_trip_of_weights_and_optimizer(tmp_path, models):
    model, fresh = models
    RunBackup(tmp_path, model, SETTINGS).save(7, {"step": 7, "history": [1]})
    saved = state(model)
    assert not equal(state(fresh), saved)
    progress = RunBackup(tmp_path, fresh, SETTINGS).restore()
    assert progress == {"step": 7, "history": [1]}
    assert equal(state(fresh), saved)
    assert int(fresh.optimizer.iterations.numpy()) == 2


def two_backups(tmp_path, model):
    backups = RunBackup(tmp_path, model, SETTINGS)
    backups.save(10, {"step": 10})
    backups.save(20, {"step": 20})
    newest = tmp_path / "backup" / "ckpt-20.data-00000-of-00001"
    assert newest.exists()
    return model, newest


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "bit flip"])
def test_damaged_newest_backup_falls_back_to_the_previous(tmp_path, damage, models):
    model, newest = two_backups(tmp_path, models[0])
    data = newest.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": os.urandom(len(data)),
        "bit flip": data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:],
    }[damage]
    newest.write_bytes(damaged)
    said = []
    progress = RunBackup(tmp_path, models[1], SETTINGS).restore(
        warn=said.append
    )
    assert progress == {"step": 10}
    assert len(said) == 1 and "ckpt-20" in said[0], said
    assert "using the backup before it" in said[0]


def test_every_backup_damaged_is_named(tmp_path, models):
    model, newest = two_backups(tmp_path, models[0])
    for path in newest.parent.glob("ckpt-*.data-*"):
        path.write_bytes(b"garbage")
    with pytest.raises(BackupError, match=r"ckpt-20.*ckpt-10.*to start the run over"):
        RunBackup(tmp_path, model, SETTINGS).restore(warn=lambda line: None)


def test_other_settings_are_refused(tmp_path, models):
    model, _ = two_backups(tmp_path, models[0])
    with pytest.raises(BackupError, match=r"other settings \(lr=0.1 there, 0.2 now\)"):
        RunBackup(tmp_path, model, {**SETTINGS, "lr": 0.2}).restore()


def test_another_model_is_refused(tmp_path, models):
    model, _ = two_backups(tmp_path, models[0])
    other = compile_model(
        keras_gs.GradSurgeryModel(make_network(hidden=5), "agr-rand", seed=1)
    )
    other.optimizer.build(other.trainable_variables)
    with pytest.raises(BackupError, match="written by a different model"):
        RunBackup(tmp_path, other, SETTINGS).restore()


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_full_or_read_only_disk_keeps_the_previous_backup(
    tmp_path, fault, models
):
    model, fresh = models
    with tmpfs(tmp_path / "disk", "64k" if fault == "full" else "1m") as disk:
        backups = RunBackup(disk, model, SETTINGS)
        if fault == "full":
            backups.save(10, {"step": 10})
            # Fill what is left.
            with contextlib.suppress(OSError):
                with open(disk / "filler", "wb") as f:
                    f.write(b"\0" * 2**20)
        else:
            backups.save(10, {"step": 10})
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(OSError, match=rf"{disk}.*previous backup is kept"):
            backups.save(20, {"step": 20, "history": list(range(10**5))})
        assert RunBackup(disk, fresh, SETTINGS).restore() == {"step": 10}
