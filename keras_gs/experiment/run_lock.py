"""`RunLock`: one process trains a run at a time.

Two processes on one work directory (a command started twice, several
sweep workers) must not train the same run at once: each would resume
from the other's backups and overwrite its results. A run being trained
holds an exclusive `flock` on `<run>/.lock`, which the operating system
releases when the process ends, killed or not, so a dead process never
keeps a run locked. (`flock` works on local file systems; on NFS, use a
lock-capable mount or one work directory per machine.)
"""

import fcntl
import os


class RunBusy(Exception):
    """Another process holds the run."""


class RunLock:
    """An exclusive lock on a run directory, as a context manager.

    Args:
        root: str, the run's directory (created if missing).

    Raises:
        RunBusy: on entry, when another process holds the lock; the
            message names its process id when known.
    """

    def __init__(self, root):
        self.path = os.path.join(root, ".lock")
        self._file = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise RunBusy(
                "being trained by another process"
                + (f" (pid {holder})" if holder else "")
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        return False
