"""`RunBackup`: what an interrupted run resumes from, with TensorFlow's
checkpoints.

A backup is one `tf.train.Checkpoint` written by a
`tf.train.CheckpointManager` in `<run>/checkpoints/backup/`. It holds,
consistent with one step: the model's variables (the network's weights,
its dropout seed state, the surgery's state), the optimizer's (Adam's
moments and its step count, from which the surgery's random draws
derive), and the run's progress as JSON in a string variable: its history
so far and the metrics' accumulators by name (a run stopped inside an
evaluation period goes on with that period's averages; Keras creates
some metrics only when `fit` starts, so they are matched by name then). The training data's
position needs no saving: the stream is drawn by step
(`keras_gs.data.zip_domains`), and a resumed run starts it at its step.

The manager writes the new checkpoint's files, then points its
`checkpoint` file at them, and keeps the previous backup: a process
killed while writing, a full disk or a read-only directory leaves the
previous backup whole. A backup that cannot be read (truncated, damaged)
is named and the previous one is used; a backup of another model or other
settings is refused with what differs.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from keras_gs.experiment.errors import InputError
from keras_gs.experiment.errors import differing_settings

BACKUP_DIR = "backup"
_PROGRESS_KEY = "progress/.ATTRIBUTES/VARIABLE_VALUE"
# The backups kept: the newest and the one before (a fallback).
KEPT = 2


class BackupError(InputError):
    """A backup that cannot be used: one line saying which and why."""


def latest_progress(directory):
    """The progress stored in the newest backup under a run's
    `checkpoints` directory (its `step`, `history`...), or None."""
    path = tf.train.latest_checkpoint(os.path.join(directory, BACKUP_DIR))
    if not path:
        return None
    stored = json.loads(
        tf.train.load_checkpoint(path).get_tensor(_PROGRESS_KEY)
    )
    stored.pop("settings", None)
    return stored


class RunBackup:
    """The backups of one run.

    Args:
        directory: str, the run's `checkpoints` directory.
        model: the compiled `GradSurgeryModel`.
        settings: dict, the run's result-changing settings; a backup made
            with others is refused.
        writes_files: bool, whether this process writes (the chief).
    """

    def __init__(self, directory, model, settings, writes_files=True):
        self.directory = os.path.join(directory, BACKUP_DIR)
        self.settings = json.loads(json.dumps(settings))
        self.writes_files = writes_files
        self._progress = tf.Variable("", dtype=tf.string, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=[v.value for v in model.variables],
            optimizer=[v.value for v in model.optimizer.variables],
            progress=self._progress,
        )
        self._manager = None

    def manager(self):
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                self._checkpoint, self.directory, max_to_keep=KEPT
            )
        return self._manager

    def exists(self) -> bool:
        return bool(tf.train.latest_checkpoint(self.directory))

    def save(self, step: int, progress: dict):
        """Writes the backup of `step` (`progress`: the run's history...).

        Raises:
            OSError: naming the directory, when it cannot be written (the
                previous backup is left as it was).
        """
        self._progress.assign(
            json.dumps({"settings": self.settings, **progress})
        )
        if not self.writes_files:
            # Under MultiWorkerMirroredStrategy every worker saves (reading
            # the metrics' variables is a collective); the others write to
            # a directory of their own and delete it, as TensorFlow's
            # multi-worker guide does.
            scratch = tempfile.mkdtemp(prefix="keras_gs_backup_")
            try:
                self._checkpoint.write(os.path.join(scratch, "ckpt"))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return
        try:
            self.manager().save(checkpoint_number=int(step))
        except (OSError, tf.errors.OpError) as error:
            raise OSError(
                f"Cannot write the backup in {self.directory}: "
                f"{_one_line(error)}. The previous backup is kept."
            ) from None

    def restore(self, warn=print) -> dict | None:
        """Restores the newest readable backup; returns its progress.

        Returns None when there is no backup. A damaged backup is named
        (through `warn`) and the previous one is tried.

        Raises:
            BackupError: every backup is unreadable, or made by another
                model or other settings.
        """
        if not os.path.isdir(self.directory):
            return None
        state = tf.train.get_checkpoint_state(self.directory)
        paths = list(state.all_model_checkpoint_paths) if state else []
        if not paths:
            return None
        failures = []
        for path in reversed(paths):
            try:
                progress = self._read(path)
            except _Unreadable as error:
                failures.append(str(error))
                if len(failures) < len(paths):
                    warn(f"{error}; using the backup before it.")
                continue
            return progress
        raise BackupError(
            f"No usable backup in {self.directory}: {'; '.join(failures)}. "
            f"Remove {self.directory} to start the run over."
        )

    def _read(self, path):
        try:
            reader = tf.train.load_checkpoint(path)
            stored = json.loads(
                reader.get_tensor(_PROGRESS_KEY)
            )
        except (tf.errors.OpError, ValueError, KeyError, IndexError) as error:
            raise _Unreadable(
                f"The backup {path} is unreadable ({_one_line(error)})"
            ) from None
        self._check_settings(path, stored.get("settings", {}))
        try:
            self._checkpoint.restore(path).assert_consumed()
        except (tf.errors.OpError, IndexError) as error:
            # Damaged data (a checksum that does not match, a short file).
            raise _Unreadable(
                f"The backup {path} is unreadable ({_one_line(error)})"
            ) from None
        except (AssertionError, ValueError) as error:
            raise BackupError(
                f"The backup {path} was written by a different model "
                f"({_one_line(error)[:300]}). Remove "
                f"{os.path.dirname(os.path.dirname(self.directory))} to "
                "start the run over."
            ) from None
        del stored["settings"]
        return stored

    def _check_settings(self, path, stored):
        listed = differing_settings(stored, self.settings)
        if listed:
            raise BackupError(
                f"The backup {path} was made with other settings ({listed}). "
                f"Remove {os.path.dirname(os.path.dirname(self.directory))} "
                "to start the run over."
            )

    def remove(self):
        """Deletes the backups (the run has finished)."""
        if self.writes_files and os.path.isdir(self.directory):
            tf.io.gfile.rmtree(self.directory)


class _Unreadable(Exception):
    pass


def _one_line(error):
    return " ".join(str(error).split())
