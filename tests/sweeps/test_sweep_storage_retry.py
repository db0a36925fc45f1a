"""`add_retries`: a storage call waits out an outage, saying so in one
line each way, and gives up in one line (issue 31, item 9). The real
outage (a PostgreSQL server stopped for 20 s) is in test_sweep_faults.py.
"""

import optuna
import pytest
import sqlalchemy

from keras_gs.sweeps import storage_retry
from keras_gs.sweeps.storage_retry import StorageUnavailable
from keras_gs.sweeps.storage_retry import add_retries


def lost_connection():
    """What Optuna's RDBStorage raises when the server is gone."""
    try:
        raise sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, Exception("connection refused")
        )
    except sqlalchemy.exc.OperationalError as error:
        try:
            raise optuna.exceptions.StorageInternalError("rollback") from error
        except optuna.exceptions.StorageInternalError as internal:
            return internal


class FlakyStorage:
    """Fails its first `failures` calls with a lost connection."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def get_trial(self, trial_id):
        self.calls += 1
        if self.calls <= self.failures:
            raise lost_connection()
        return trial_id

    def set_trial_user_attr(self, trial_id, key, value):
        raise optuna.exceptions.StorageInternalError("a refused query")

    def record_heartbeat(self, trial_id):
        raise lost_connection()


@pytest.fixture(autouse=True)
def short_waits(monkeypatch):
    monkeypatch.setattr(storage_retry, "FIRST_WAIT", 0.01)
    monkeypatch.setattr(storage_retry, "LONGEST_WAIT", 0.02)


def test_a_short_outage_is_waited_out_in_two_lines():
    said = []
    storage = add_retries(FlakyStorage(3), 5, "db://me:***@h", said.append)
    assert storage.get_trial(7) == 7
    assert storage.calls == 4
    assert said == [
        "The storage db://me:***@h is unreachable (connection refused); "
        "trying again for up to 5 s.",
        "The storage is reachable again (after 0 s).",
    ]


def test_a_long_outage_gives_up_in_one_line():
    said = []
    storage = add_retries(FlakyStorage(10**6), 0.2, "db://h", said.append)
    with pytest.raises(StorageUnavailable) as error:
        storage.get_trial(7)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "The storage db://h has been unreachable for 0 s (connection refused)"
    )
    assert "run the same command again" in message
    assert len(said) == 1
    # Optuna's heartbeat thread: no exception (no traceback on stderr).
    assert storage.record_heartbeat(7) is None


def test_a_refused_query_is_not_tried_again():
    storage = add_retries(FlakyStorage(0), 5, "db://h", print)
    with pytest.raises(optuna.exceptions.StorageInternalError):
        storage.set_trial_user_attr(1, "k", "v")


def test_no_retry_time_leaves_the_storage_as_it_is():
    storage = add_retries(FlakyStorage(1), 0, "db://h")
    assert "get_trial" not in vars(storage)  # The class's own method.
    with pytest.raises(optuna.exceptions.StorageInternalError):
        storage.get_trial(7)
