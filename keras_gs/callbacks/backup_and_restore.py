"""`BackupAndRestore`: Keras's callback, atomic and safe across workers."""

import json
import os

import keras

from keras_gs.utils import atomic_files
from keras_gs.utils import distribute


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's `BackupAndRestore`, with atomic writes and one writer.

    Same arguments and behaviour as `keras.callbacks.BackupAndRestore`
    (Keras 3.15), plus:
    - A backup is written to temporary files that then replace the old
      ones, so a process killed while saving (`kill -9`) leaves the previous
      backup whole.
    - Under `MultiWorkerMirroredStrategy` only the chief writes and deletes
      the backup; every worker restores from it, so `backup_dir` must be
      storage that every worker reads (a shared file system or bucket).
      Keras's own callback has every worker write (and, at the end,
      delete) the same files; `GradSurgeryModel.fit` refuses it on
      multi-worker jobs and names this one.

    When one worker dies, the others stop at their next collective; the job
    is restarted (by the cluster manager or by hand) and every worker
    resumes from the last backup, losing at most the steps since it.

    Example:

    ```python
    model.fit(
        train,
        steps_per_epoch=100,
        epochs=10,
        callbacks=[keras_gs.callbacks.BackupAndRestore("/shared/backup")],
    )
    ```
    """

    def _save_model(self):
        if not distribute.is_chief(self.model.distribute_strategy):
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path, previous in (
                (self._weights_path, self._prev_weights_path),
                (
                    self._training_metadata_path,
                    self._prev_training_metadata_path,
                ),
            ):
                if os.path.exists(path):
                    atomic_files.copy(path, previous)
        with atomic_files.atomic_path(self._weights_path) as temporary:
            self.model.save_weights(temporary, overwrite=True)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        atomic_files.write_text(
            self._training_metadata_path, json.dumps(metadata)
        )

    def on_train_end(self, logs=None):
        if distribute.is_chief(self.model.distribute_strategy):
            super().on_train_end(logs)

