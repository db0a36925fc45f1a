"""`Progress`: what an experiment tells its user while it runs.

One line per run when it ends (its selected test accuracy and time), and
in between Keras's progress bar (`keras.utils.Progbar`) over the run's
steps, with the latest accuracies and the time left for the whole
experiment: redrawn in place on a terminal, a line every `interval`
seconds otherwise (a log file).
"""

import sys
import time

import keras


class Progress:
    """Reports the progress of `total_runs` runs of `steps` steps each.

    Args:
        total_runs: int, the runs still to train (finished ones are
            skipped and not counted).
        steps: int, steps per run.
        stream: a text stream for the lines between runs. Defaults to
            `sys.stdout`.
        interval: float, seconds between progress lines when stdout is not
            a terminal. Defaults to `30`.
    """

    def __init__(self, total_runs, steps, stream=None, interval=30.0):
        self.total_runs = total_runs
        self.steps = steps
        self.stream = stream or sys.stdout
        self.interval = interval
        self.index = 0
        self.spec = None
        self.steps_done = 0
        self.steps_left = total_runs * steps
        self.seconds = 0.0
        self._bar = None
        self._bar_drawn = False
        self._run_start = None
        self._run_start_step = 0
        self._last_step = 0

    def print(self, text):
        """Prints a line (after the progress bar's, if one is shown)."""
        if self._bar_drawn and sys.stdout.isatty():
            # End the bar's line, redrawn in place.
            print(file=sys.stdout, flush=True)
            self._bar_drawn = False
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
        self._bar = keras.utils.Progbar(
            self.steps,
            interval=0.05 if sys.stdout.isatty() else self.interval,
            stateful_metrics=("source val", "target test", "left (s)"),
            unit_name="step",
        )

    def period(self, step, entry):
        done = step - self._last_step
        self._last_step = step
        self.steps_done += done
        self.steps_left -= done
        left = self._left(time.perf_counter())
        self._bar.update(
            step,
            [
                ("source val", entry["source_val_accuracy"]),
                ("target test", entry["target_test_accuracy"]),
                ("left (s)", left if left is not None else float("nan")),
            ],
        )
        self._bar_drawn = True

    def run_finished(self, spec, results):
        elapsed = time.perf_counter() - self._run_start
        self.seconds += elapsed
        self._run_start = None
        best = results["selection"]["best_val"]
        last = results["selection"]["last"]
        diverged = results.get("diverged")
        self.print(
            f"{self._prefix()} done in {elapsed:.1f} s: "
            + (
                f"DIVERGED ({diverged}): its accuracies are not results"
                if diverged
                else f"test {best['test_accuracy']:.3f} at best source val "
                f"(step {best['step']}), {last['test_accuracy']:.3f} at the "
                "end"
            )
            + f"  | {format_seconds(self._left(time.perf_counter()))} left"
        )
        self._bar = None

    def interrupted(self, backup_step, by="Ctrl-C"):
        where = (
            f"the checkpoint of step {backup_step} is kept"
            if backup_step
            else "no checkpoint yet: it restarts from step 0"
        )
        stopped = "Interrupted" if by == "Ctrl-C" else f"Stopped by {by}"
        self.print(
            f"\n{stopped} during {self.spec.name}; {where}. Run the same "
            "command again to go on."
        )

    def _prefix(self):
        width = len(str(self.total_runs))
        return f"[{self.index:>{width}}/{self.total_runs}] {self.spec.name}"

    def _left(self, now):
        """Time left: steps left at the speed measured so far (with the
        evaluation, writing and set-up time of the runs so far)."""
        seconds = self.seconds
        if (
            self._run_start is not None
            and self._last_step > self._run_start_step
        ):
            seconds += now - self._run_start
        if self.steps_done <= 0:
            return None
        return self.steps_left * seconds / self.steps_done


def format_seconds(seconds) -> str:
    """`42s`, `12m30s`, `3h05m`; `?` for None."""
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
