"""Ctrl-C and SIGTERM during training: a backup, then a clean stop.

Clusters stop jobs with SIGTERM (Slurm, Kubernetes), then SIGKILL after a
grace period; a user presses Ctrl-C (SIGINT). Either is recorded when it
arrives, and the run stops at the end of the training chunk under way,
after writing a backup of that step (`RunEvents`): the stop takes at most
one chunk of steps, and nothing trained is lost. A second Ctrl-C stops
at once (the last backup is kept).

Python turns SIGINT into a KeyboardInterrupt at the next bytecode of the
main thread, but a signal that arrives while TensorFlow's C++ code runs a
step can be consumed there and lost (seen on 2 cores: the run went on to
its end); here the handler only records the signal, and the stop is
raised between chunks.
"""

import contextlib
import signal
import threading


class Terminated(BaseException):
    """SIGTERM arrived: the run stopped after its backup.

    A `BaseException`, as KeyboardInterrupt: code that catches `Exception`
    (Optuna's trial runner) lets it through.
    """


_received = []


def _record(signum, frame):
    del frame
    if signum == signal.SIGINT and signal.SIGINT in _received:
        # Ctrl-C twice: stop now, without waiting for the chunk's end.
        raise KeyboardInterrupt
    _received.append(signum)


def requested() -> int | None:
    """The signal received since `catch_interrupts` began, or None."""
    return _received[0] if _received else None


def raise_requested():
    """Raises the stop the received signal asks for (none: returns)."""
    signum = requested()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if signum == signal.SIGTERM:
        raise Terminated


@contextlib.contextmanager
def catch_interrupts():
    """Records SIGINT and SIGTERM while inside (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {
        s: signal.signal(s, _record) for s in (signal.SIGINT, signal.SIGTERM)
    }
    stopped = False
    try:
        yield
    except BaseException:
        stopped = True
        raise
    finally:
        pending = requested()
        for s, handler in previous.items():
            signal.signal(s, handler)
        _received.clear()
        if pending is not None and not stopped:
            # Arrived as the block ended (a run's last steps): not acted
            # on here, so passed on to whoever handled it before (a
            # sweep's worker, which then stops before its next job).
            signal.raise_signal(pending)
