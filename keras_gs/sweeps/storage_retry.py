"""A storage that survives a short outage of its database.

A PostgreSQL server restarting (an upgrade, a failover) is unreachable
for 15-25 s. Without retries, the first query of a worker then fails
inside Optuna, which tries to record the failure in the same unreachable
database and dies with a hundred lines of tracebacks. `add_retries` makes
every call of an `RDBStorage` wait for the database instead: tried again
with exponential backoff for up to `seconds`, saying so in one line when
it starts and one when the database is back, and raising
`StorageUnavailable` (one line) when it gives up.

A call is tried again only when the database could not be reached (a
connection error), never for a refused query; a write that reached the
database just before the connection dropped may be tried twice, which
Optuna's calls a worker makes (setting attributes, states and values of
its own trial) tolerate.
"""

import functools
import sys
import threading
import time

import optuna
import sqlalchemy

# The first wait, and the longest (the wait doubles between tries).
FIRST_WAIT = 0.5
LONGEST_WAIT = 8.0
_CONNECTION_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
)


class StorageUnavailable(BaseException):
    """The storage stayed unreachable for the whole retry time.

    A `BaseException`, as KeyboardInterrupt: Optuna's trial runner, which
    catches `Exception` to record a failed trial in the same storage,
    lets it through (the job's trial stays running, and is run again
    after the grace period once the storage is back: from its backup).
    """


def add_retries(storage, seconds: float, shown: str, say=None):
    """Makes every public method of `storage` wait out an outage.

    Args:
        storage: an `optuna.storages.RDBStorage`, changed in place.
        seconds: float, how long a call keeps trying; 0 for no retry.
        shown: str, the storage as messages name it (password masked).
        say: callable `(line)` for the two lines of an outage, or None for
            stderr. Defaults to `None`.

    Returns:
        `storage`.
    """
    if seconds <= 0:
        return storage
    outage = _Outage(seconds, shown, say or _to_stderr)
    for name in dir(type(storage)):
        method = getattr(storage, name)
        if name.startswith("_") or not callable(method):
            continue
        wrapped = outage.wrap(method)
        if name == "record_heartbeat":
            # Optuna's heartbeat thread: an exception there is a traceback
            # on stderr; the main thread's next call says it in one line.
            wrapped = _quiet(wrapped)
        setattr(storage, name, wrapped)
    return storage


def is_connection_error(error) -> bool:
    """Whether `error`, or one it came from, is a lost connection."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _CONNECTION_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


class _Outage:
    """What the wrapped methods of one storage share: whether the
    database is down now (so that the heartbeat thread and the main
    thread say it once)."""

    def __init__(self, seconds, shown, say):
        self.seconds = seconds
        self.shown = shown
        self.say = say
        self.since = None
        self.lock = threading.Lock()

    def wrap(self, method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            started = time.monotonic()
            wait = FIRST_WAIT
            while True:
                try:
                    result = method(*args, **kwargs)
                except (
                    optuna.exceptions.StorageInternalError,
                    sqlalchemy.exc.SQLAlchemyError,
                ) as error:
                    if not is_connection_error(error):
                        raise
                    waited = time.monotonic() - started
                    self._down(error)
                    if waited >= self.seconds:
                        raise StorageUnavailable(
                            f"The storage {self.shown} has been unreachable "
                            f"for {waited:.0f} s ({_reason(error)}); what "
                            "finished is recorded and an interrupted run "
                            "resumes from its backup: run the same command "
                            "again once the storage is back (or give "
                            "--storage_retry_seconds more time)."
                        ) from None
                    time.sleep(min(wait, self.seconds - waited + 0.01))
                    wait = min(2 * wait, LONGEST_WAIT)
                    continue
                self._up()
                return result

        return call

    def _down(self, error):
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        self.say(
            f"The storage {self.shown} is unreachable ({_reason(error)}); "
            f"trying again for up to {self.seconds:.0f} s."
        )

    def _up(self):
        if self.since is None:
            return
        with self.lock:
            if self.since is None:
                return
            down = time.monotonic() - self.since
            self.since = None
        self.say(f"The storage is reachable again (after {down:.0f} s).")


def _reason(error) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    error = getattr(error, "orig", None) or error
    text = str(error).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(
        error
    ).__name__


def _quiet(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except StorageUnavailable:
            return None

    return call


def _to_stderr(line):
    print(line, file=sys.stderr, flush=True)
