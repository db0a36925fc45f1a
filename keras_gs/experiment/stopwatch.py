"""`Stopwatch`: where the seconds of a run or an experiment went."""

import collections
import contextlib
import time


class Stopwatch:
    """Seconds spent in named activities, and since it started.

    Example:

    ```python
    watch = Stopwatch()
    with watch.timing("evaluation"):
        evaluate()
    watch.seconds["evaluation"]
    ```
    """

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def timing(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def elapsed(self) -> float:
        """Seconds since the stopwatch started."""
        return time.perf_counter() - self._started

    @staticmethod
    def now() -> float:
        return time.perf_counter()
