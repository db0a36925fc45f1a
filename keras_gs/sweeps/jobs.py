"""Jobs and searches, and how they are kept as Optuna studies and trials.

A search is one (dataset, surgery, target, trial): the configurations
compared by model selection. Each search is one Optuna study, named
`<sweep>/<dataset>/<surgery>/<target>/trial_<n>`, so that Optuna's samplers
and pruners compare a configuration only with the others of its search.

A job is configuration `index` of a search: one Optuna trial, created
`WAITING` when the sweep is created and identified by its user attributes
(`JOB_ATTRS`). A worker takes it with `study.ask()`, which moves a waiting
trial to `RUNNING` atomically in the storage, so no two workers get the
same job. A job killed mid-run stops sending heartbeats; Optuna then marks
its trial `FAIL` and adds a `WAITING` copy (same attributes and
parameters), so one job may have several trials: the newest tells its
state (`job_states`).
"""

import dataclasses

from optuna.trial import TrialState

# The user attributes that identify a job's trial.
JOB_ATTRS = ("dataset", "surgery", "target", "trial", "index")

# A job's state, from its newest trial; pruned jobs are finished.
DONE = "done"
PRUNED = "pruned"
RUNNING = "running"
FAILED = "failed"
PENDING = "pending"
STATES = (DONE, PRUNED, RUNNING, FAILED, PENDING)
_STATE_OF = {
    TrialState.COMPLETE: DONE,
    TrialState.PRUNED: PRUNED,
    TrialState.RUNNING: RUNNING,
    TrialState.FAIL: FAILED,
    TrialState.WAITING: PENDING,
}


@dataclasses.dataclass(frozen=True)
class Search:
    """One search: the configurations of a (dataset, surgery, target,
    trial)."""

    dataset: str
    surgery: str
    target: str
    trial: int

    def study_name(self, sweep: str) -> str:
        return (
            f"{sweep}/{self.dataset}/{self.surgery}/{self.target}/"
            f"trial_{self.trial}"
        )

    def job(self, index: int) -> "Job":
        return Job(self.dataset, self.surgery, self.target, self.trial, index)


@dataclasses.dataclass(frozen=True)
class Job:
    """Configuration `index` of a search: one run of the protocol."""

    dataset: str
    surgery: str
    target: str
    trial: int
    index: int

    @property
    def search(self) -> Search:
        return Search(self.dataset, self.surgery, self.target, self.trial)

    @property
    def name(self) -> str:
        return (
            f"{self.dataset}/{self.surgery}/{self.target}/trial_{self.trial}"
            f"/hparams_{self.index}"
        )

    def attrs(self) -> dict:
        """The user attributes that mark a trial as this job."""
        return dataclasses.asdict(self)

    @classmethod
    def of_trial(cls, trial) -> "Job | None":
        """The job of an Optuna (frozen) trial; None for a trial that is no
        job (one `study.ask()` made when another worker took the last job
        of the search first)."""
        attrs = trial.user_attrs
        if any(k not in attrs for k in JOB_ATTRS):
            return None
        return cls(**{k: attrs[k] for k in JOB_ATTRS})


@dataclasses.dataclass(frozen=True)
class JobState:
    """A job and its trials (oldest first); `trial` is the newest."""

    job: Job
    trials: tuple

    @property
    def trial(self):
        return self.trials[-1]

    @property
    def state(self) -> str:
        return _STATE_OF[self.trial.state]


def job_states(trials) -> list[JobState]:
    """Groups the trials of a search by job; trials that are no job are
    left out. In the order of the jobs' first trials."""
    by_job = {}
    for trial in sorted(trials, key=lambda t: t.number):
        job = Job.of_trial(trial)
        if job is not None:
            by_job.setdefault(job, []).append(trial)
    return [JobState(job, tuple(t)) for job, t in by_job.items()]
