"""keras_gs.callbacks.BackupAndRestore: one writer, atomic backups."""

import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from tiny_models import compile_model, make_domains, make_network
from keras_gs.callbacks import backup_and_restore


def fit(callback, epochs=2):
    model = compile_model(keras_gs.GradSurgeryModel(make_network(), seed=1))
    model.fit(
        keras_gs.data.zip_domains(make_domains(), 4, shuffle_buffer=0),
        steps_per_epoch=2,
        epochs=epochs,
        callbacks=[callback],
        verbose=0,
    )
    return model


def test_backup_is_written_without_temporary_files(tmp_path):
    callback = keras_gs.callbacks.BackupAndRestore(
        tmp_path, delete_checkpoint=False, double_checkpoint=True
    )
    fit(callback)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest.weights.h5",
        "latest.weights.h5.bkp",
        "training_metadata.json",
        "training_metadata.json.bkp",
    ]
    assert json.loads((tmp_path / "training_metadata.json").read_text()) == {
        "epoch": 2,
        "batch": 0,
    }


def test_a_crash_while_saving_keeps_the_previous_backup(tmp_path):
    callback = keras_gs.callbacks.BackupAndRestore(
        tmp_path, delete_checkpoint=False
    )
    model = fit(callback, epochs=1)
    before = (tmp_path / "latest.weights.h5").read_bytes()

    def dies_half_way(filepath, overwrite=True):
        with open(filepath, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt

    model.save_weights = dies_half_way
    with pytest.raises(KeyboardInterrupt):
        callback._save_model()
    assert (tmp_path / "latest.weights.h5").read_bytes() == before
    assert json.loads((tmp_path / "training_metadata.json").read_text())[
        "epoch"
    ] == 1


def test_a_worker_that_is_not_the_chief_writes_and_deletes_nothing(
    tmp_path, monkeypatch
):
    backup = tmp_path / "backup"
    fit(keras_gs.callbacks.BackupAndRestore(backup, delete_checkpoint=False))
    written = {p.name: p.read_bytes() for p in backup.iterdir()}
    monkeypatch.setattr(
        backup_and_restore.distribute, "is_chief", lambda strategy: False
    )
    # It restores from the chief's backup, trains, and leaves it alone.
    model = fit(keras_gs.callbacks.BackupAndRestore(backup), epochs=3)
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == written
    assert int(model.optimizer.iterations.numpy()) == 2 * 2 + 2


def test_keras_callback_is_refused_only_on_multi_worker_jobs(monkeypatch):
    # Keras's callback has every worker write the same files: on a
    # multi-worker job fit names the callback to use instead (no silent
    # swap); elsewhere it is left alone.
    from keras_gs.model import keras_compat

    model = types.SimpleNamespace(
        distribute_strategy=tf.distribute.get_strategy()
    )
    plain = keras.callbacks.BackupAndRestore("somewhere", save_freq=3)
    keras_compat.check_callbacks(model, [plain, keras.callbacks.History()])
    monkeypatch.setattr(
        keras_compat.distribute, "is_multi_worker", lambda strategy=None: True
    )
    with pytest.raises(ValueError, match="Use keras_gs.callbacks.BackupAndRestore"):
        keras_compat.check_callbacks(model, [plain])
    ours = keras_gs.callbacks.BackupAndRestore("somewhere", save_freq=3)
    keras_compat.check_callbacks(model, [ours, keras.callbacks.History()])
    monkeypatch.undo()
    assert not keras_gs.utils.distribute.is_multi_worker()
    assert keras_gs.utils.distribute.is_chief()
    np.testing.assert_equal(keras_gs.utils.distribute.num_replicas(), 1)
