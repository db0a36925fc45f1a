"""A signal that arrives as a run ends is not lost (issue 31, item 8).

`catch_interrupts` records SIGINT and SIGTERM and the run acts on them
between chunks; one that arrives after the last chunk was cleared when the
run ended, so a sweep's worker went on to its next job and exited 0.
"""

import os
import signal

import pytest

from keras_gs.experiment import interrupts


@pytest.fixture
def outer_handler():
    """A SIGTERM handler in place before the run (a sweep worker's)."""
    received = []
    previous = signal.signal(
        signal.SIGTERM, lambda signum, frame: received.append(signum)
    )
    yield received
    signal.signal(signal.SIGTERM, previous)


def test_a_signal_not_acted_on_is_passed_to_the_previous_handler(
    outer_handler,
):
    with interrupts.catch_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupts.requested() == signal.SIGTERM
        assert outer_handler == []  # Recorded by the run's handler.
    # The run ended without acting on it: the worker's handler has it.
    assert outer_handler == [signal.SIGTERM]
    assert interrupts.requested() is None


def test_a_signal_acted_on_is_not_passed_on(outer_handler):
    with pytest.raises(interrupts.Terminated):
        with interrupts.catch_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            interrupts.raise_requested()
    assert outer_handler == []
