"""Keras callbacks of keras_gs."""

from keras_gs.callbacks.backup_and_restore import BackupAndRestore

__all__ = ["BackupAndRestore"]
