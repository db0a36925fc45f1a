"""Ctrl-C during training: always a KeyboardInterrupt between two periods.

Python turns SIGINT into a KeyboardInterrupt at the next bytecode of the
main thread, but a signal that arrives while TensorFlow's C++ code runs a
step can be consumed there and lost (seen on 2 cores: the run went on to
its end). `catch_interrupts` records the signal as well, and the
`RaiseIfInterrupted` callback raises it after the current evaluation
period, so the run stops with its last backup kept.
"""

import contextlib
import signal
import threading

import keras

_requested = threading.Event()


def _on_sigint(signum, frame):
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def catch_interrupts():
    """Records Ctrl-C while training (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


class RaiseIfInterrupted(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at a period's end if Ctrl-C was pressed."""

    def on_epoch_end(self, epoch, logs=None):
        if _requested.is_set():
            raise KeyboardInterrupt
