"""`Progress`: what an experiment tells its user while it runs.

One line per run when it ends (its selected test accuracy and time), and
in between, at each evaluation, a status line (which run of how many, its
step, the latest accuracies, the time left): rewritten in place on a
terminal, printed at most every `interval` seconds otherwise (a log file).
"""

import sys
import time


class Progress:
    """Reports the progress of `total_runs` runs of `steps` steps each.

    Args:
        total_runs: int, the runs still to train (finished ones are
            skipped and not counted).
        steps: int, steps per run.
        stream: a text stream. Defaults to `sys.stdout`.
        interval: float, seconds between status lines when `stream` is not
            a terminal. Defaults to `30`.
    """

    def __init__(self, total_runs, steps, stream=None, interval=30.0):
        self.total_runs = total_runs
        self.steps = steps
        self.stream = stream or sys.stdout
        self.interval = interval
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.index = 0
        self.spec = None
        self.steps_done = 0
        self.steps_left = total_runs * steps
        self.seconds = 0.0
        self._run_start = None
        self._run_start_step = 0
        self._last_step = 0
        self._last_print = 0.0
        self._status_shown = False

    def print(self, text):
        """Prints a line (clearing a status line first)."""
        self._clear()
        print(text, file=self.stream, flush=True)

    def run_started(self, spec, start_step):
        self.index += 1
        self.spec = spec
        self._run_start = time.perf_counter()
        self._run_start_step = self._last_step = start_step
        # A resumed run has fewer steps left.
        self.steps_left -= start_step
        if start_step:
            self.print(
                f"{self._prefix()} resuming from the checkpoint of step "
                f"{start_step}"
            )

    def period(self, step, entry):
        done = step - self._last_step
        self._last_step = step
        self.steps_done += done
        self.steps_left -= done
        now = time.perf_counter()
        text = (
            f"{self._prefix()} step {step}/{self.steps}  "
            f"source val {entry['source_val_accuracy']:.3f}  "
            f"target test {entry['target_test_accuracy']:.3f}  "
            f"| {format_seconds(self._left(now))} left"
        )
        if self.tty:
            self._clear()
            self.stream.write(text)
            self.stream.flush()
            self._status_shown = True
        elif now - self._last_print >= self.interval:
            print(text, file=self.stream, flush=True)
            self._last_print = now

    def run_finished(self, spec, results):
        elapsed = time.perf_counter() - self._run_start
        self.seconds += elapsed
        self._run_start = None
        best = results["selection"]["best_val"]
        last = results["selection"]["last"]
        self.print(
            f"{self._prefix()} done in {elapsed:.1f} s: test "
            f"{best['test_accuracy']:.3f} at best source val (step "
            f"{best['step']}), {last['test_accuracy']:.3f} at the end  "
            f"| {format_seconds(self._left(time.perf_counter()))} left"
        )

    def interrupted(self, backup_step):
        where = (
            f"the checkpoint of step {backup_step} is kept"
            if backup_step
            else "no checkpoint yet: it restarts from step 0"
        )
        self.print(
            f"\nInterrupted during {self.spec.name}; {where}. Run the same "
            "command again to go on."
        )

    def _prefix(self):
        width = len(str(self.total_runs))
        return f"[{self.index:>{width}}/{self.total_runs}] {self.spec.name}"

    def _left(self, now):
        """Time left: steps left at the speed measured so far (with the
        evaluation, writing and set-up time of the runs so far)."""
        seconds = self.seconds
        steps = self.steps_done
        if (
            self._run_start is not None
            and self._last_step > self._run_start_step
        ):
            seconds += now - self._run_start
        if steps <= 0:
            return None
        return self.steps_left * seconds / steps

    def _clear(self):
        if self.tty and self._status_shown:
            self.stream.write("\r\033[K")
            self._status_shown = False


def format_seconds(seconds):
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
