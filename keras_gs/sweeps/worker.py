"""`Worker`: takes the sweep's jobs from the storage and runs them.

Every worker runs the same loop, on one machine or many, against one
storage: pick the search whose next waiting job comes first (trial, then
configuration, surgery, target: so trials finish in order, and a worker's
next job is usually the same configuration on another target, whose
traced model it reuses), and run it with `study.optimize(n_trials=1)`:
Optuna takes the job (`WAITING` -> `RUNNING`, atomically), sends its
heartbeats while it runs, and records its value, intermediate values and
state. Whenever a worker looks for a job, it lets Optuna fail the running
jobs whose heartbeats stopped (`fail_stale_trials`), and fails those whose
worker died before its first heartbeat (which Optuna leaves running:
`sweep_storage`): Optuna's retry callback queues each again, and a worker
runs it, resuming from the run's last backup when the run directory is on
its machine. A worker stops when no job of the sweep waits or runs.
"""

import math
import os
import socket
import sys
import time
import warnings

import optuna

from keras_gs.experiment import interrupts
from keras_gs.sweeps import registry
from keras_gs.sweeps import storage as storage_lib
from keras_gs.sweeps.jobs import Job
from keras_gs.sweeps.jobs import Search
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

# A worker stops after this many jobs in a row failed with an error: the
# cause is then most likely the machine, not the configurations.
MAX_FAILURES_IN_A_ROW = 3


class Worker:
    """Runs the jobs of a sweep until none is left.

    Args:
        sweep: the `storage.Sweep`.
        config: the `SweepConfig` (sampler, pruner, retries).
        run_job: callable `(job, hparams, report) -> results`, e.g. a
            `runner.JobRunner`: runs `job` with settings `hparams`, calls
            `report(step, entry)` at each evaluation (which may raise
            `optuna.TrialPruned`), and returns the run's `results.json`
            contents.
        stream: where the worker writes one line per job. Defaults to
            `sys.stdout`.
        poll_seconds: float or None, how long to wait, when no job waits,
            before looking again; None for a quarter of the heartbeat
            interval. Defaults to `None`.
        name: str or None, the worker's name in the trials' `worker`
            attribute; None for `<host>:<pid>`. Defaults to `None`.
        terminated: callable `() -> bool` or None, whether a SIGTERM came
            between two jobs' runs (during a run, the run stops itself);
            the worker then raises `interrupts.Terminated` before taking
            another job. Defaults to `None` (never).

    Example:

    ```python
    worker = Worker(sweep, config, JobRunner(config, sweep.targets))
    counts = worker.run()
    ```
    """

    def __init__(
        self,
        sweep,
        config,
        run_job,
        stream=None,
        poll_seconds=None,
        name=None,
        terminated=None,
    ):
        self.sweep = sweep
        self.config = config
        self.run_job = run_job
        self.stream = stream or sys.stdout
        self.poll_seconds = poll_seconds or max(
            0.5, config.heartbeat_interval / 4
        )
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.terminated = terminated or (lambda: False)
        self.counts = {"done": 0, "pruned": 0, "failed": 0}
        self._studies = {}
        self._finished = set()  # Searches with nothing waiting or running.
        self._empty_since = {}
        self._last = None  # The last job run.
        self._running = None  # The number of the trial running now.
        self._waiting_for = []  # The jobs last said to be waited for.
        # {trial id: when first seen running without any heartbeat}.
        self._silent_since = {}
        self._order = {
            "surgery": list(sweep.definition["surgery"]),
            "target": list(sweep.targets),
        }

    def run(self) -> dict:
        """Runs jobs until every job of the sweep has finished or failed.

        Returns:
            dict of counts of this worker's jobs: `done`, `pruned`,
            `failed`.
        """
        failures_in_a_row = 0
        while True:
            if self.terminated():
                raise interrupts.Terminated
            search = self._next_search()
            if search is None:
                running = self._running_elsewhere()
                if not running and self._finished.issuperset(
                    self.sweep.searches
                ):
                    return self.counts
                self._say_waiting(running)
                time.sleep(self.poll_seconds)
                continue
            state = self._run_one(search)
            if state == TrialState.FAIL:
                failures_in_a_row += 1
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    raise RuntimeError(
                        f"{failures_in_a_row} jobs in a row failed on worker "
                        f"{self.name}; see their errors above."
                    )
            elif state is not None:
                failures_in_a_row = 0

    # -- choosing a job -------------------------------------------------------

    def _next_search(self):
        """The search whose next waiting job comes first, or None.

        First (trial, configuration, surgery, target): trials finish in
        order, and a configuration goes to every target before the next
        one. The next target of the worker's last configuration is looked
        at first (one query instead of one per search); then the searches
        of the lowest trial with a waiting job, preferring configurations
        no other worker is running (each worker then builds and traces its
        own configurations' models, not the same ones as the others).
        """
        if self._last is not None:
            for search in self._same_configuration(self._last):
                first, _ = self._look(search)
                if first is not None and first.index == self._last.index:
                    return search
        candidates, busy = [], set()
        for search in self.sweep.searches:
            if candidates and search.trial > candidates[0][0].trial:
                break  # Searches are in trial order: none comes first.
            if search in self._finished:
                continue
            first, running = self._look(search)
            if running and self._fail_stale(search):
                first, running = self._look(search)  # A job is back.
            busy |= {(search.surgery, job.index) for job in running}
            if first is not None:
                candidates.append((search, first))
        if not candidates:
            return None

        def key(candidate):
            search, first = candidate
            return (
                (search.surgery, first.index) in busy,
                first.index,
                self._order["surgery"].index(search.surgery),
                self._order["target"].index(search.target),
            )

        return min(candidates, key=key)[0]

    def _same_configuration(self, job):
        targets = self._order["target"]
        start = targets.index(job.target) + 1
        for target in targets[start:] + targets[:start]:
            yield Search(job.dataset, job.surgery, target, job.trial)

    def _look(self, search):
        """`(first, running)`: the job `ask` would take next in `search`
        (its oldest waiting trial) or None, and the jobs running there.
        Remembers searches with nothing waiting or running: nothing comes
        back to them (but Optuna's retry of a dead job)."""
        trials = self._study(search).get_trials(
            deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)
        )
        if not trials:
            # Finished once seen so twice, `poll_seconds` apart: Optuna
            # fails a dead job, then queues it again (two commits).
            empty_since = self._empty_since.setdefault(search, time.monotonic())
            if time.monotonic() - empty_since >= self.poll_seconds:
                self._finished.add(search)
        else:
            self._empty_since.pop(search, None)
        first, running = None, []
        for trial in trials:
            job = Job.of_trial(trial)
            if job is None:
                continue
            if trial.state == TrialState.RUNNING:
                running.append(job)
            elif first is None:
                first = job
        return first, running

    def _running_elsewhere(self) -> list:
        """The jobs still running elsewhere (after failing those whose
        heartbeat stopped: Optuna then queues them again)."""
        running = []
        for search in self.sweep.searches:
            if search in self._finished:
                continue
            self._fail_stale(search)
            running += self._look(search)[1]
        return running

    def _say_waiting(self, running):
        """One line when the worker starts waiting for other workers' jobs
        (or a dead worker's: that wait is the grace period)."""
        names = sorted(job.name for job in running)
        if not names or names == self._waiting_for:
            return
        self._waiting_for = names
        shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        print(
            f"[{self.name}] No job waits; {len(names)} running elsewhere "
            f"({shown}). Waiting: a job whose worker died runs again here "
            f"once it has had no heartbeat for {self.config.grace_seconds} s "
            "(--grace_period).",
            file=self.stream,
            flush=True,
        )

    def _fail_stale(self, search) -> bool:
        """Lets Optuna fail the jobs of `search` whose worker stopped its
        heartbeats (its callback queues each again), and fails those whose
        worker died before its first heartbeat; whether it did."""
        study = self._study(search)
        before = len(study.get_trials(deepcopy=False))
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", optuna.exceptions.ExperimentalWarning
            )
            optuna.storages.fail_stale_trials(study)
        self._fail_silent(study)
        return len(study.get_trials(deepcopy=False)) != before

    def _fail_silent(self, study):
        """Fails and queues again the running trials of `study` that have
        had no heartbeat at all for the grace period, as this worker's
        clock counts it from when it first saw them so (no other machine's
        clock is compared). Optuna's `fail_stale_trials` leaves them
        running forever: their worker died between taking the job and its
        first heartbeat (`sweep_storage`)."""
        silent = set(self.sweep.storage.get_silent_trial_ids(study._study_id))
        now = time.monotonic()
        for trial_id in list(self._silent_since):
            if trial_id not in silent:
                del self._silent_since[trial_id]  # It beat, or it ended.
        for trial_id in silent:
            since = self._silent_since.setdefault(trial_id, now)
            if now - since < self.config.grace_seconds:
                continue
            del self._silent_since[trial_id]
            try:
                failed = self.sweep.storage.set_trial_state_values(
                    trial_id, state=TrialState.FAIL
                )
            except optuna.exceptions.UpdateFinishedTrialError:
                failed = False  # Another worker failed it, or it ended.
            if not failed:
                continue
            trial = self.sweep.storage.get_trial(trial_id)
            if Job.of_trial(trial) is not None:  # A job, not a spare trial.
                self._queue_again(study, trial)

    def _study(self, search):
        if search not in self._studies:
            self._studies[search] = self.sweep.study(
                search, sampler=self._sampler(search), pruner=self._pruner()
            )
        return self._studies[search]

    def _sampler(self, search):
        # Per worker: two workers proposing for the same search at once
        # must not draw the same numbers.
        seed = registry.derive_seed(self.sweep.name, search, self.name)
        if self.config.sampler == "tpe":
            # constant_liar: running jobs count as bad ones, so that
            # parallel workers do not propose the same configuration.
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        # Random search draws nothing here: every job has its settings.
        return optuna.samplers.RandomSampler(seed=seed)

    def _pruner(self):
        if self.config.pruner == "median":
            # No pruning in the first quarter of a run (early accuracies are
            # noisy), nor before 3 configurations of the search finished.
            return optuna.pruners.MedianPruner(
                n_startup_trials=3,
                n_warmup_steps=self.config.experiment.steps // 4,
            )
        return optuna.pruners.NopPruner()

    # -- running a job --------------------------------------------------------

    def _run_one(self, search):
        """Runs the next job of `search`; returns its trial's final state
        (None when the job went to another worker first)."""
        study = self._study(search)
        self._running = None
        finished = []

        def keep(study, trial):
            finished.append(trial)

        try:
            study.optimize(
                self._objective,
                n_trials=1,
                catch=(Exception,),
                callbacks=[keep],
            )
        except _Stopped as stopped:
            # The trial is still running in the storage (Optuna let the
            # stop through without recording it): queue the job again
            # (Optuna's retry, as for a dead worker) so that it resumes.
            self._retry(study)
            raise stopped.stop from None
        except (KeyboardInterrupt, interrupts.Terminated):
            # A stop outside the job's run (Optuna marked the trial FAIL).
            self._retry(study)
            raise
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            # Optuna refuses to update a trial another worker gave up for
            # lack of heartbeats (this process paused longer than the
            # grace period): its copy is someone else's job now.
            if self._running is None or _trial(study, self._running).state == (
                TrialState.RUNNING
            ):
                raise
            print(
                f"[{self.name}] trial {self._running} of "
                f"{search.study_name(self.sweep.name)} was given up (no "
                "heartbeat for the grace period): its job runs again "
                "elsewhere.",
                file=self.stream,
                flush=True,
            )
            return None
        trial = finished[0]
        job = Job.of_trial(trial)
        if job is None:
            return None
        self._last = job
        key = {
            TrialState.COMPLETE: "done",
            TrialState.PRUNED: "pruned",
            TrialState.FAIL: "failed",
        }.get(trial.state)
        if key:
            self.counts[key] += 1
        return trial.state

    def _objective(self, trial):
        self._running = trial.number
        try:
            return self._run_trial(trial)
        except (KeyboardInterrupt, interrupts.Terminated) as stop:
            # Past Optuna's trial runner, which would log it as a failed
            # trial with its traceback (30 lines for a Ctrl-C).
            raise _Stopped(stop) from None

    def _run_trial(self, trial):
        job = Job.of_trial(trial)
        if job is None:
            # Another worker took the search's last job between our look
            # and `ask`, which then made a new trial: leave it as no job.
            trial.set_user_attr("spare", True)
            raise optuna.TrialPruned("no job left in this search")
        trial.set_user_attr("worker", self.name)
        hparams = self._hparams(trial, job)
        report = _Reporter(trial, trial.user_attrs.get("history", []))
        try:
            results = self.run_job(job, hparams, report)
        except optuna.TrialPruned:
            self._print(job, "pruned", report.history)
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            raise  # Given up by another worker: see `_run_one`.
        except Exception as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            raise
        history = compact_history(results["history"])
        trial.set_user_attr("history", history)
        trial.set_user_attr("run_seconds", results.get("wall_time"))
        self._print(job, "done", history)
        return best_source_val(history)

    def _hparams(self, trial, job):
        """The job's settings: fixed when the sweep was created, or
        proposed now by the sampler (TPE), then kept in the trial."""
        space = registry.space(
            job.dataset, job.surgery, self.config.experiment.warmup_steps
        )
        hparams = trial.user_attrs.get("hparams")
        if hparams is None:
            hparams = {
                name: _suggest(trial, name, d) for name, d in space.items()
            }
            trial.set_user_attr("hparams", hparams)
        else:
            # The same values (Optuna's fixed parameters), recorded as the
            # trial's parameters for samplers and dashboards.
            for name in storage_lib.fixed_params(space, hparams):
                _suggest(trial, name, space[name])
        return hparams

    def _retry(self, study):
        if self._running is None:
            return
        trial = _trial(study, self._running)
        self._running = None
        if Job.of_trial(trial) is None:
            return
        if trial.state == TrialState.RUNNING:
            self.sweep.storage.set_trial_state_values(
                trial._trial_id, state=TrialState.FAIL
            )
            trial = _trial(study, trial.number)
        if trial.state == TrialState.FAIL:
            self._queue_again(study, trial)

    def _queue_again(self, study, trial):
        """Optuna's retry of a failed job's trial (a waiting copy), as
        its heartbeat callback does for a dead worker's."""
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", optuna.exceptions.ExperimentalWarning
            )
            optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=self.config.max_retry
            )(study, trial)

    def _print(self, job, what, history):
        best = max(history, key=lambda e: e[1], default=None)
        text = f"[{self.name}] {job.name} {what}"
        if best is not None:
            text += (
                f": source val {best[1]:.3f} at step {best[0]}, target test "
                f"{best[3]:.3f} there"
            )
        print(text, file=self.stream, flush=True)


class _Stopped(BaseException):
    """Carries a Ctrl-C or SIGTERM of a job's run through Optuna."""

    def __init__(self, stop):
        super().__init__(stop)
        self.stop = stop


class _Reporter:
    """What a run calls at each evaluation: records the history in the
    trial (so a pruned or killed job keeps what it measured), reports the
    source-validation accuracy and asks the pruner."""

    def __init__(self, trial, inherited):
        self.trial = trial
        # A job run again after its worker died starts with what that
        # worker recorded; a run resumed from a backup recomputes the
        # evaluations after the backup's step.
        self.inherited = [list(e) for e in inherited]
        self.history = list(self.inherited)
        self.new = []

    def __call__(self, step, entry):
        self.new.append(compact_entry(entry))
        first = self.new[0][0]
        self.history = [e for e in self.inherited if e[0] < first] + self.new
        self.trial.set_user_attr("history", self.history)
        value = entry["source_val_accuracy"]
        if value is not None and math.isfinite(value):
            self.trial.report(value, step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(
                    f"source val {value:.3f} at step {step} is below the "
                    "median"
                )


def compact_entry(entry) -> list:
    """`[step, source val, target val, target test]` of a history entry."""
    return [
        int(entry["step"]),
        entry["source_val_accuracy"],
        entry["target_val_accuracy"],
        entry["target_test_accuracy"],
    ]


def compact_history(history) -> list:
    return [compact_entry(e) for e in history]


def best_source_val(history) -> float:
    """The highest source-validation accuracy of a compact history (what
    training-domain validation compares configurations by)."""
    values = [e[1] for e in history if e[1] is not None and math.isfinite(e[1])]
    return max(values) if values else float("nan")


def _suggest(trial, name, distribution):
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    suggest = (
        trial.suggest_float
        if isinstance(distribution, FloatDistribution)
        else trial.suggest_int
    )
    return suggest(
        name,
        distribution.low,
        distribution.high,
        log=distribution.log,
        step=distribution.step,
    )


def _trial(study, number):
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise KeyError(number)
