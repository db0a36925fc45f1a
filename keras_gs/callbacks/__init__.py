"""Keras callbacks of keras_gs."""

from keras_gs.callbacks.backup_and_restore import BackupAndRestore
from keras_gs.callbacks.conflict_monitor import ConflictMonitor

__all__ = ["BackupAndRestore", "ConflictMonitor"]
