"""The worker's bookkeeping on Optuna's storage, with a fake job runner.

No training: the runner reports made-up accuracies, so that these tests
check jobs, retries, samplers, pruning, status and tables in a second.
The real runs, processes and kill -9 are in test_sweep_tool.py.
"""

import io
import logging
import math
import time

import optuna
import pytest

from keras_gs.experiment import ExperimentConfig
from keras_gs.experiment import interrupts
from keras_gs.sweeps import SweepConfig
from keras_gs.sweeps import Worker
from keras_gs.sweeps import collect
from keras_gs.sweeps import open_storage
from keras_gs.sweeps import registry
from keras_gs.sweeps import status
from keras_gs.sweeps.jobs import Job
from keras_gs.sweeps.storage import Sweep

TARGETS = ["0", "75"]


def make_sweep(tmp_path, trials=1, targets=TARGETS, **options):
    config = SweepConfig(
        ExperimentConfig(
            surgery=("erm", "and-mask"),
            test_domains=tuple(targets),
            trials=trials,
            steps=40,
            eval_every=10,
            workdir=str(tmp_path / "sweep"),
        ),
        n_hparams=options.pop("n_hparams", 3),
        heartbeat_interval=1,
        grace_period=2,
        **options,
    ).validate()
    (tmp_path / "sweep").mkdir()
    storage = open_storage(
        config.storage_url,
        heartbeat_interval=1,
        grace_period=2,
        max_retry=config.max_retry,
    )
    return config, Sweep.create(storage, config, list(targets))


class FakeRunner:
    """Reports accuracies made from the job: source val decreases with
    the configuration index, so the pruner has something to prune."""

    def __init__(self, fail=(), interrupt=()):
        self.calls = []
        self.fail = set(fail)
        self.interrupt = set(interrupt)

    def __call__(self, job, hparams, report):
        self.calls.append((job, dict(hparams)))
        if job in self.interrupt:
            self.interrupt.discard(job)
            raise KeyboardInterrupt
        if job in self.fail:
            raise ValueError(f"cannot run {job.name}")
        history = []
        for step in (10, 20, 30, 40):
            value = 0.9 - 0.1 * job.index + 0.001 * step
            entry = {
                "step": step,
                "source_val_accuracy": value,
                "target_val_accuracy": 0.5 + 0.01 * job.index,
                "target_test_accuracy": 0.4
                + 0.01 * job.index
                + 0.001 * job.trial,
            }
            history.append(entry)
            report(step, entry)
        return {"history": history, "wall_time": 0.0}


def run_worker(sweep, config, runner, name="w1", timeout=60):
    """Runs a worker until no job is left; after `timeout` seconds it
    stops (`interrupts.Terminated`) instead of waiting on."""
    stream = io.StringIO()
    deadline = time.monotonic() + timeout
    counts = Worker(
        sweep,
        config,
        runner,
        stream=stream,
        poll_seconds=0.05,
        name=name,
        terminated=lambda: time.monotonic() > deadline,
    ).run()
    return counts, stream.getvalue()


def states(sweep):
    return [s for by in sweep.job_states().values() for s in by]


def test_random_search_runs_every_job_once_with_its_draw(tmp_path):
    config, sweep = make_sweep(tmp_path, trials=2, n_hparams=2)
    runner = FakeRunner()
    counts, output = run_worker(sweep, config, runner)
    total = 2 * 2 * 2 * 2  # surgeries x targets x trials x configurations
    assert sweep.total_jobs == total
    assert counts == {"done": total, "pruned": 0, "failed": 0}
    jobs = [job for job, _ in runner.calls]
    assert len(jobs) == len(set(jobs)) == total
    for job, hparams in runner.calls:
        assert hparams == registry.draw(
            config.experiment, job.surgery, job.index, job.trial
        )
    # Trials in order; within a trial a configuration goes to every target
    # before the next one (its model is reused).
    assert [(j.trial, j.index) for j in jobs] == sorted(
        (j.trial, j.index) for j in jobs
    )
    assert jobs[:2] == [
        Job("rotated_digits", "erm", "0", 0, 0),
        Job("rotated_digits", "erm", "75", 0, 0),
    ]
    for state in states(sweep):
        assert state.state == "done" and len(state.trials) == 1
        trial = state.trial
        assert trial.user_attrs["worker"] == "w1"
        assert [e[0] for e in trial.user_attrs["history"]] == [10, 20, 30, 40]
        assert trial.value == pytest.approx(0.94 - 0.1 * state.job.index)
        assert trial.intermediate_values[10] == pytest.approx(
            0.91 - 0.1 * state.job.index
        )
        # The drawn settings inside their distributions are the trial's
        # parameters (configuration 0's dropout None is not).
        space = registry.space("rotated_digits", state.job.surgery)
        hparams = trial.user_attrs["hparams"]
        assert trial.params == {
            k: v for k, v in hparams.items() if registry.contains(space[k], v)
        }
    assert "rotated_digits/and-mask/75/trial_1/hparams_1 done" in output

    results = collect(sweep)
    assert results.complete and not results.missing
    assert [t.rule for t in results.tables] == [
        "training_domain",
        "test_domain",
    ]
    training, oracle = results.tables
    # Configuration 0 has the best source val, 1 the best target val.
    for (surgery, target, trial), choice in training.choices.items():
        assert choice.index == 0 and choice.step == 40
        assert choice.test == pytest.approx(0.4 + 0.001 * trial)
    assert {c.index for c in oracle.choices.values()} == {1}
    assert training.cell("erm", "avg") == (
        pytest.approx(0.4005),
        pytest.approx(0.0005),
        2,
    )

    now = status(sweep)
    assert now.counts["erm"] == {
        "done": 8,
        "pruned": 0,
        "running": 0,
        "failed": 0,
        "pending": 0,
    }
    assert now.seconds_left == 0.0
    assert "Every job has finished." in now.markdown()


def test_a_job_taken_by_another_worker_first_is_no_job(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    run_worker(sweep, config, FakeRunner())
    # Every job is done: `ask` now makes a new trial, which the worker
    # leaves as no job (as when another worker took the last job between
    # its look and `ask`).
    worker = Worker(sweep, config, FakeRunner(), stream=io.StringIO())
    search = sweep.searches[0]
    assert worker._run_one(search) is None
    trials = sweep.study(search).get_trials()
    assert len(trials) == 2 and trials[1].user_attrs == {"spare": True}
    assert len(states(sweep)) == sweep.total_jobs
    assert collect(sweep).complete
    assert status(sweep).total("done") == sweep.total_jobs


# The test takes the job with a bare `ask`, as a worker would not.
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize(
    "beat", [True, False], ids=["after_a_heartbeat", "before_any_heartbeat"]
)
def test_a_dead_workers_job_is_run_again_once(tmp_path, beat):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    # A worker takes a job, beats once (or is killed before its first
    # heartbeat: Optuna's fail_stale_trials never fails that one), and
    # dies.
    study = sweep.study(sweep.searches[1])
    taken = study.ask()
    taken.set_user_attr("worker", "dead")
    if beat:
        sweep.storage.record_heartbeat(taken._trial_id)
    assert sweep.storage.get_silent_trial_ids(study._study_id) == (
        [] if beat else [taken._trial_id]
    )
    runner = FakeRunner()
    started = time.monotonic()
    counts, output = run_worker(sweep, config, runner, name="alive")
    # The others first, then, after the grace period (2 s), that one.
    assert time.monotonic() - started >= 2
    # The wait (if the dead job was not stale yet when the others were
    # done: a loaded machine) is said once, with what and how long.
    waiting = [line for line in output.splitlines() if "No job waits" in line]
    assert waiting in ([], [waiting_line("alive", Job.of_trial(taken))])
    assert counts["done"] == sweep.total_jobs
    jobs = [job for job, _ in runner.calls]
    assert len(jobs) == len(set(jobs)) == sweep.total_jobs
    assert jobs[-1] == Job.of_trial(taken)
    for state in states(sweep):
        assert state.state == "done"
        if state.job == Job.of_trial(taken):
            failed, retry = state.trials
            assert failed.state == optuna.trial.TrialState.FAIL
            assert failed.user_attrs["worker"] == "dead"
            assert retry.user_attrs["worker"] == "alive"
            assert retry.system_attrs["retry_history"] == [failed.number]
            # Never both at once.
            assert retry.datetime_start >= failed.datetime_complete
        else:
            assert len(state.trials) == 1


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_dead_workers_spare_trial_is_failed_not_queued(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    run_worker(sweep, config, FakeRunner())
    # A worker that looked before the last job was taken asks for it: its
    # `ask` makes a trial that is no job; it dies before any heartbeat.
    study = sweep.study(sweep.searches[1])
    spare = study.ask()
    started = time.monotonic()
    counts, _ = run_worker(sweep, config, FakeRunner(), name="alive")
    assert time.monotonic() - started >= 2  # The grace period.
    assert counts == {"done": 0, "pruned": 0, "failed": 0}
    trials = study.get_trials(deepcopy=False)
    assert trials[-1].number == spare.number  # No copy queued.
    assert trials[-1].state == optuna.trial.TrialState.FAIL
    assert collect(sweep).complete


def waiting_line(worker, job):
    return (
        f"[{worker}] No job waits; 1 running elsewhere ({job.name}). "
        "Waiting: a job whose worker died runs again here once it has had "
        "no heartbeat for 2 s (--grace_period)."
    )


def test_waiting_for_a_dead_workers_job_is_said_once(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    stream = io.StringIO()
    worker = Worker(sweep, config, FakeRunner(), stream=stream, name="w")
    job = Job("rotated_digits", "erm", "75", 0, 0)
    worker._say_waiting([job])
    worker._say_waiting([job])  # Still the same job: said already.
    worker._say_waiting([])
    assert stream.getvalue().splitlines() == [waiting_line("w", job)]


def test_an_interrupted_job_is_queued_again(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    interrupted = Job("rotated_digits", "erm", "75", 0, 0)
    with pytest.raises(KeyboardInterrupt):
        run_worker(sweep, config, FakeRunner(interrupt=[interrupted]))
    # erm/0 ran, erm/75 was interrupted: it waits again, not failed.
    counts = status(sweep).counts["erm"]
    assert (counts["done"], counts["pending"], counts["failed"]) == (1, 1, 0)
    runner = FakeRunner()
    run_worker(sweep, config, runner)
    assert runner.calls[0][0] == interrupted
    assert collect(sweep).complete


def test_a_ctrl_c_is_no_optuna_traceback(tmp_path, caplog):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    interrupted = Job("rotated_digits", "erm", "0", 0, 0)
    optuna.logging.enable_propagation()  # Optuna's records to caplog.
    try:
        with pytest.raises(KeyboardInterrupt):
            run_worker(sweep, config, FakeRunner(interrupt=[interrupted]))
    finally:
        optuna.logging.disable_propagation()
    # Optuna's "Trial 0 failed ... KeyboardInterrupt", with its traceback.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert status(sweep).counts["erm"]["pending"] == 2


def test_a_sigterm_as_a_run_finishes_stops_the_worker_after_it(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    received = []

    class SignalledAtTheEnd(FakeRunner):
        # What `interrupts.catch_interrupts` passes on when SIGTERM came
        # after the run's last chunk: the worker's handler records it.
        def __call__(self, job, hparams, report):
            results = super().__call__(job, hparams, report)
            received.append("SIGTERM")
            return results

    runner = SignalledAtTheEnd()
    worker = Worker(
        sweep,
        config,
        runner,
        stream=io.StringIO(),
        poll_seconds=0.05,
        terminated=lambda: bool(received),
    )
    with pytest.raises(interrupts.Terminated):
        worker.run()
    # The run that finished is recorded; no other job was taken.
    assert len(runner.calls) == 1
    assert status(sweep).total("done") == 1
    assert status(sweep).total("running") == 0


def test_failed_jobs_are_reported(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=2)
    bad = Job("rotated_digits", "and-mask", "0", 0, 1)
    counts, _ = run_worker(sweep, config, FakeRunner(fail=[bad]))
    assert counts["failed"] == 1
    now = status(sweep)
    assert now.counts["and-mask"]["failed"] == 1
    assert now.failures == [f"{bad.name}: ValueError: cannot run {bad.name}"]
    results = collect(sweep)
    assert not results.complete
    assert results.missing == [
        "and-mask, target 0, trial 0: 1 of 2 configurations done, 1 failed"
    ]
    # The other searches are in the table; that one is not.
    table = results.tables[0]
    assert ("and-mask", "0", 0) not in table.choices
    assert table.cell("and-mask", "0")[2] == 0
    assert table.cell("and-mask", "75")[2] == 1
    assert table.cell("and-mask", "avg")[2] == 0
    assert "Not in the tables yet (1 searches)" in results.markdown()
    # Once fixed, queued again (--retry_failed): the sweep completes.
    assert sweep.retry_failed() == [bad]
    counts, _ = run_worker(sweep, config, FakeRunner())
    assert counts == {"done": 1, "pruned": 0, "failed": 0}
    assert collect(sweep).complete and not status(sweep).failures


def test_a_worker_stops_when_every_job_fails(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1)
    everything = [s.job(0) for s in sweep.searches]
    with pytest.raises(RuntimeError, match="3 jobs in a row failed"):
        run_worker(sweep, config, FakeRunner(fail=everything))


def test_tpe_proposes_the_settings_of_configurations_after_the_first(tmp_path):
    config, sweep = make_sweep(tmp_path, sampler="tpe")
    runner = FakeRunner()
    run_worker(sweep, config, runner)
    for job, hparams in runner.calls:
        if job.index == 0:
            assert hparams == registry.draw(
                config.experiment, job.surgery, 0, 0
            )
        else:
            space = registry.space("rotated_digits", job.surgery)
            assert hparams.keys() == space.keys()
            assert all(
                registry.contains(space[k], v) for k, v in hparams.items()
            )
            assert hparams != registry.draw(
                config.experiment, job.surgery, job.index, job.trial
            )
    for state in states(sweep):
        if state.job.index:
            assert state.trial.params == state.trial.user_attrs["hparams"]


def test_median_pruning_stops_worse_configurations(tmp_path):
    config, sweep = make_sweep(
        tmp_path, targets=["0"], pruner="median", n_hparams=5
    )
    counts, output = run_worker(sweep, config, FakeRunner())
    # Per search, configurations 0-2 finish (the pruner's start-up); 3 and
    # 4 are below their median from step 10 (the warm-up) on.
    assert counts == {"done": 6, "pruned": 4, "failed": 0}
    for state in states(sweep):
        assert state.state == ("pruned" if state.job.index >= 3 else "done")
        if state.state == "pruned":
            assert [e[0] for e in state.trial.user_attrs["history"]] == [10]
    assert "hparams_3 pruned" in output
    results = collect(sweep)
    assert results.complete
    assert {c.index for c in results.tables[0].choices.values()} == {0}


def test_status_time_left():
    from keras_gs.sweeps.status import SweepStatus

    now = SweepStatus(
        dataset="d",
        counts={
            "erm": {
                "done": 4,
                "pruned": 0,
                "running": 2,
                "failed": 0,
                "pending": 6,
            }
        },
        seconds_per_job=10.0,
        workers=2,
        failures=[],
    )
    # 8 jobs left at 10 s each on 2 workers.
    assert now.seconds_left == 40.0
    assert "Time left at the current rate: 40s" in now.markdown()
    assert "| d | erm | 4 | 0 | 2 | 0 | 6 |" in now.markdown()
    assert math.isclose(
        SweepStatus("d", now.counts, 10.0, 0, []).seconds_left or -1, -1
    )


# The test takes the job with a bare `ask`, as a worker would not.
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_job_given_up_while_its_worker_lives_goes_to_the_retry(tmp_path):
    config, sweep = make_sweep(tmp_path, n_hparams=1, targets=["0"])
    paused = Job("rotated_digits", "erm", "0", 0, 0)

    class PausedTooLong(FakeRunner):
        """Another worker fails the job (as for a missed heartbeat) while
        this one is still running it."""

        def __call__(self, job, hparams, report):
            if job == paused and not self.calls:
                study = sweep.study(job.search)
                (trial,) = study.get_trials(
                    states=(optuna.trial.TrialState.RUNNING,)
                )
                sweep.storage.set_trial_state_values(
                    trial._trial_id, optuna.trial.TrialState.FAIL
                )
                optuna.storages.RetryHeartbeatStaleTrialCallback()(
                    study, sweep.storage.get_trial(trial._trial_id)
                )
            return super().__call__(job, hparams, report)

    runner = PausedTooLong()
    counts, output = run_worker(sweep, config, runner)
    assert "was given up" in output
    # Its run stopped at its first report; its copy ran to the end.
    assert [job for job, _ in runner.calls].count(paused) == 2
    (state,) = [s for s in states(sweep) if s.job == paused]
    assert [t.state.name for t in state.trials] == ["FAIL", "COMPLETE"]
    assert collect(sweep).complete
