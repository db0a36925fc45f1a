"""Where a sweep stands: jobs done, running, failed and pending, and the
time left at the current rate."""

import dataclasses
import datetime
import statistics

from keras_gs.experiment.progress import format_seconds
from keras_gs.sweeps import jobs as jobs_lib


@dataclasses.dataclass
class SweepStatus:
    """Counts of a sweep's jobs by state, per surgery.

    Args:
        dataset: str.
        counts: dict `surgery -> {state: count}` (`jobs.STATES`).
        seconds_per_job: float or None, the mean wall time of the finished
            jobs.
        workers: int, workers with a running job now.
        failures: list of str, `<job>: <error>` of the failed jobs.
    """

    dataset: str
    counts: dict
    seconds_per_job: float | None
    workers: int
    failures: list

    def total(self, state) -> int:
        return sum(c[state] for c in self.counts.values())

    @property
    def seconds_left(self) -> float | None:
        """The jobs left (pending and running) at the mean job time,
        spread over the workers running now; None when unknown."""
        left = self.total(jobs_lib.PENDING) + self.total(jobs_lib.RUNNING)
        if not left:
            return 0.0
        if self.seconds_per_job is None or not self.workers:
            return None
        return left * self.seconds_per_job / self.workers

    def markdown(self) -> str:
        states = jobs_lib.STATES
        lines = [
            "| dataset | surgery | " + " | ".join(states) + " |",
            "|:--|:--|" + "--:|" * len(states),
        ]
        for surgery, counts in self.counts.items():
            lines.append(
                f"| {self.dataset} | {surgery} | "
                + " | ".join(str(counts[s]) for s in states)
                + " |"
            )
        lines.append(
            "| all | | " + " | ".join(str(self.total(s)) for s in states) + " |"
        )
        lines.append("")
        lines.append(self.time_left_line())
        if self.failures:
            lines.append("")
            lines.append(f"Failed jobs ({len(self.failures)}):")
            lines += [f"- {f}" for f in self.failures[:10]]
            if len(self.failures) > 10:
                lines.append(f"- ... and {len(self.failures) - 10} more")
        return "\n".join(lines)

    def time_left_line(self) -> str:
        left = self.seconds_left
        if left == 0.0:
            return "Every job has finished."
        if self.seconds_per_job is None:
            return "Time left: unknown until a job finishes."
        if not self.workers:
            return (
                f"No worker is running a job ({self.seconds_per_job:.1f} s "
                "per job so far)."
            )
        return (
            f"Time left at the current rate: {format_seconds(left)} "
            f"({self.seconds_per_job:.1f} s per job, {self.workers} "
            "worker(s) running)."
        )


def status(sweep) -> SweepStatus:
    """Reads the state of every job of `sweep` (a `storage.Sweep`)."""
    counts = {
        s: dict.fromkeys(jobs_lib.STATES, 0)
        for s in sweep.definition["surgery"]
    }
    durations, workers, failures = [], set(), []
    for search, states in sweep.job_states().items():
        for state in states:
            counts[search.surgery][state.state] += 1
            trial = state.trial
            if state.state in (jobs_lib.DONE, jobs_lib.PRUNED):
                if trial.datetime_start and trial.datetime_complete:
                    durations.append(
                        (trial.datetime_complete - trial.datetime_start)
                        / datetime.timedelta(seconds=1)
                    )
            elif state.state == jobs_lib.RUNNING:
                workers.add(trial.user_attrs.get("worker"))
            elif state.state == jobs_lib.FAILED:
                error = trial.user_attrs.get("error", "no error recorded")
                failures.append(f"{state.job.name}: {error}")
        # Jobs not created yet (none, unless the sweep is being created).
        counts[search.surgery][jobs_lib.PENDING] += sweep.n_hparams - len(
            states
        )
    return SweepStatus(
        dataset=sweep.dataset,
        counts=counts,
        seconds_per_job=statistics.fmean(durations) if durations else None,
        workers=len(workers),
        failures=failures,
    )

