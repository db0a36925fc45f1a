"""End to end: tools/sweep.py's workers on SQLite and PostgreSQL, kill -9.

Each scenario runs a small sweep on the embedded digits (ERM, 2 targets x
2 configurations, 20 steps per run) with two workers (the same command,
started at once) and kills one of them with SIGKILL in the middle of a run
that has written its backup (on SQLite, a third worker is then started),
then checks that every job finished exactly once, that the killed job was
run again (resumed from its backup) only after its worker died, and that
the results and reports are complete.
"""

import contextlib
import glob
import os
import signal
import time
from concurrent import futures

import optuna
import pytest
from absl import flags

from keras_gs import experiment
from keras_gs import sweeps
from keras_gs.sweeps.jobs import Job

import postgres_server as postgres_server_lib
from postgres_server import postgres_server
from sweep_helpers import finish
from sweep_helpers import load_sweep_tool
from sweep_helpers import start

TARGETS = ("0", "75")


def sweep_args(workdir, surgeries, storage=None):
    args = [
        f"--surgery={surgeries}",
        f"--test_domains={','.join(TARGETS)}",
        "--steps=20",
        "--eval_every=10",
        "--backup_every=10",
        "--checkpoint_every=0",
        "--n_trials=1",
        "--n_hparams=2",
        f"--workdir={workdir}",
        "--heartbeat_interval=1",
        # Long enough that a live worker starved of CPU on a loaded machine
        # (three test processes on two cores) keeps its job; short enough
        # that a killed worker's job runs again soon.
        "--grace_period=10",
    ]
    return args + ([f"--storage={storage}"] if storage else [])


class Watch:
    """Reads a sweep's storage from the test, while its workers run."""

    def __init__(self, url, name, timeout=120):
        deadline = time.monotonic() + timeout
        storage = None
        while True:
            try:
                # One storage (one connection pool), opened once it exists.
                storage = storage or sweeps.open_storage(url, create=False)
                self.sweep = sweeps.Sweep.load(storage, name)
                return
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def running(self, searches=None):
        """`{job: pid of its worker}` of the jobs running now (in
        `searches`, or in every search of the sweep)."""
        found = {}
        for search in searches or self.sweep.searches:
            for trial in self.sweep.study(search).get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            ):
                job = Job.of_trial(trial)
                if job is not None:
                    worker = trial.user_attrs.get("worker", ":0")
                    found[job] = int(worker.split(":")[-1])
        return found

    def worker_of(self, job):
        """The pid of the worker running `job` now, or None."""
        return self.running([job.search]).get(job)


def backup_of(workdir, job):
    """The file a job's run writes with its first backup."""
    return os.path.join(
        files_of(workdir, job).root, "checkpoints", "backup", "checkpoint"
    )


def kill_a_worker_mid_run(watch, workdir, timeout=150):
    """SIGKILLs a worker during a run that has written its backup; returns
    the job.

    The worker is paused (SIGSTOP) first, and killed only if its job is
    still running there and the backup still exists (else continued): on
    a loaded machine a 20-step run can end between the test's look and
    its kill, and the worker then dies between two jobs, or right after
    taking the next one.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job, pid in watch.running().items():
            if not pid or not os.path.exists(backup_of(workdir, job)):
                continue
            # The workers are this process's children, not yet waited for:
            # the pid is theirs even if one has ended.
            os.kill(pid, signal.SIGSTOP)
            if watch.worker_of(job) == pid and os.path.exists(
                backup_of(workdir, job)
            ):
                os.kill(pid, signal.SIGKILL)
                return job
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("no run in progress with a backup to kill")


def check_sweep(watch, workdir, killed, surgeries):
    sweep = watch.sweep
    expected = {
        Job("rotated_digits", s, t, 0, i)
        for s in surgeries
        for t in TARGETS
        for i in range(2)
    }
    states = [s for by in sweep.job_states().values() for s in by]
    assert {s.job for s in states} == expected
    for state in states:
        complete = [
            t
            for t in state.trials
            if t.state == optuna.trial.TrialState.COMPLETE
        ]
        assert len(complete) == 1, state.job  # Done exactly once.
        assert state.trial is complete[0]
        history = complete[0].user_attrs["history"]
        assert [e[0] for e in history] == [10, 20]
        # Never two trials of a job at once.
        for before, after in zip(state.trials, state.trials[1:]):
            assert after.datetime_start >= before.datetime_complete
        run = files_of(workdir, state.job)
        results = experiment.files.read_json(run.results)
        assert [e["step"] for e in results["history"]] == [10, 20]
        assert glob.glob(os.path.join(run.root, "events.out.tfevents.*"))
        if state.job == killed:
            failed, retry = state.trials
            assert failed.state == optuna.trial.TrialState.FAIL
            assert retry.system_attrs["retry_history"] == [failed.number]
            assert results["resumed_from"] == [10]
        else:
            assert len(state.trials) == 1
            assert results["resumed_from"] == []
    results = sweeps.collect(sweep)
    assert results.complete and not results.missing
    for table in results.tables:
        for surgery in surgeries:
            assert table.cell(surgery, "avg")[2] == 1
    with open(os.path.join(workdir, "sweep.md"), encoding="utf-8") as f:
        report = f.read()
    assert "training-domain validation" in report and "(oracle)" in report
    assert os.path.exists(os.path.join(workdir, "sweep.png"))
    # Configuration 0 is the flagfile's setting; the others their draws.
    zero = experiment.files.read_json(
        files_of(workdir, Job("rotated_digits", surgeries[0], "0", 0, 0)).config
    )
    assert zero["lr"] == 1e-3 and zero["batch_size"] == 32
    # Each configuration's folder is an experiment work directory.
    (table,) = experiment.collect(os.path.join(workdir, "hparams_1"))
    assert table.surgeries == list(surgeries) and table.domains == list(TARGETS)


def files_of(workdir, job):
    return experiment.files.RunPaths.of(
        os.path.join(workdir, f"hparams_{job.index}"),
        job.dataset,
        job.surgery,
        job.target,
        job.trial,
    )


def two_workers_one_killed(workdir, url, third_worker):
    """Starts two workers at once (the same command), SIGKILLs one during
    a run, optionally starts a third; returns what `check_sweep` needs and
    the workers' exit codes and outputs."""
    args = sweep_args(workdir, "erm", storage=url)
    workers = [start(*args), start(*args)]
    watch = Watch(
        url or "sqlite:///" + os.path.join(workdir, "sweep.db"), "digits"
    )
    killed = kill_a_worker_mid_run(watch, workdir)
    if third_worker:
        workers.append(start(*args))
    outputs = [finish(p) for p in workers]
    return watch, killed, outputs


def check_workers(outputs):
    codes = [code for code, _ in outputs]
    # The killed one, and the others done; pytest would shorten a worker's
    # output in the message, so each one that did not end as expected is
    # printed whole (shown with the failure).
    unexpected = sorted(codes) != [-signal.SIGKILL] + [0] * (len(codes) - 1)
    if unexpected:
        for number, (code, output) in enumerate(outputs):
            if code not in (0, -signal.SIGKILL):
                print(f"--- worker {number}, exit code {code}:\n{output}")
    assert not unexpected, codes
    for code, output in outputs:
        if code == 0:
            assert "training-domain validation" in output, output
            assert "Written:" in output


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """The SQLite scenario (a third worker after the kill) and the
    PostgreSQL one, at the same time: most of their time is processes
    starting and waiting, which together fill the two cores better."""
    sqlite_dir = str(tmp_path_factory.mktemp("sqlite") / "digits")
    postgres_dir = str(tmp_path_factory.mktemp("postgresql") / "digits")
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(futures.ThreadPoolExecutor(2))
        found = {
            "sqlite": pool.submit(
                two_workers_one_killed, sqlite_dir, None, third_worker=True
            )
        }
        if not postgres_server_lib.unavailable():
            url = stack.enter_context(postgres_server())
            # Two commands at once on a new database: one creates the
            # sweep, the other finds it; the one left runs the killed
            # one's job.
            found["postgresql"] = pool.submit(
                two_workers_one_killed, postgres_dir, url, third_worker=False
            )
        yield {
            "sqlite": (sqlite_dir, *found["sqlite"].result()),
            **(
                {"postgresql": (postgres_dir, *found["postgresql"].result())}
                if "postgresql" in found
                else {}
            ),
        }
        for name in found:
            found[name].result()[0].sweep.storage.engine.dispose()


@pytest.fixture(scope="module")
def sqlite_sweep(scenarios):
    return scenarios["sqlite"]


def test_two_workers_on_sqlite_one_killed_and_a_new_one(sqlite_sweep):
    workdir, watch, killed, outputs = sqlite_sweep
    check_workers(outputs)
    check_sweep(watch, workdir, killed, ("erm",))


def test_two_workers_on_postgresql_one_killed(scenarios):
    if "postgresql" not in scenarios:
        postgres_server_lib.skip_or_fail(postgres_server_lib.unavailable())
    workdir, watch, killed, outputs = scenarios["postgresql"]
    check_workers(outputs)
    check_sweep(watch, workdir, killed, ("erm",))


def sweep_tool_starting(monkeypatch):
    """tools/sweep.py, whose `start_workers` records `(command, env)` of
    each process instead of starting it; and that record."""
    module = load_sweep_tool()
    started = []

    class Popen:
        pid = 0

        def __init__(self, command, env):
            started.append((command, env))

    monkeypatch.setattr(module.subprocess, "Popen", Popen)
    return module, started


def test_workers_start_one_per_gpu(monkeypatch):
    module, started = sweep_tool_starting(monkeypatch)
    monkeypatch.setattr(module.sys, "argv", ["sweep.py", "--flagfile=f"])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    # This process works on GPU 0; the workers it starts on 1, 0, 1.
    module.start_workers(3, num_gpus=2)

    def gpus():
        return [env.get("CUDA_VISIBLE_DEVICES") for _, env in started]

    assert gpus() == ["1", "0", "1"]
    command = started[0][0]
    assert command[1].endswith("sweep.py")
    assert command[2:] == ["--flagfile=f", "--workers=1", "--noreport"]
    started.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    module.start_workers(1, num_gpus=2)
    assert gpus() == ["6"]
    started.clear()
    module.start_workers(2, num_gpus=0)  # No GPU: the environment as is.
    assert gpus() == ["4,6", "4,6"]


def test_workers_get_the_storage_by_environment(monkeypatch):
    module, started = sweep_tool_starting(monkeypatch)
    url = "postgresql://me:pw31@db/sweeps"
    monkeypatch.setattr(
        module.sys,
        "argv",
        ["sweep.py", f"--storage={url}", "--n_hparams=2", "--storage", url],
    )
    module.start_workers(1, 0, sweeps.StorageURL(url))
    ((command, env),) = started
    assert command[2:] == ["--n_hparams=2", "--workers=1", "--noreport"]
    assert env[module.STORAGE_VARIABLE] == url


@pytest.fixture(scope="module")
def tool():
    module = load_sweep_tool()
    values = flags.FlagValues()
    module.define_flags(values)
    _, experiment_lib, sweeps_lib = module.import_quietly()
    return module, values, experiment_lib, sweeps_lib


def prepare(tool, *args):
    module, values, experiment_lib, sweeps_lib = tool
    values.unparse_flags()
    values(["sweep.py", *args])
    config = module.make_config(values, experiment_lib, sweeps_lib)
    return module.prepare(config, sweeps_lib)


def snapshot(folder):
    return {
        path: (os.path.getsize(path), os.path.getmtime(path))
        for path in glob.glob(os.path.join(folder, "**"), recursive=True)
    }


def test_bad_storage_fails_in_one_line(tool, tmp_path, capsys):
    workdir = tmp_path / "never"
    with pytest.raises(SystemExit) as exit_:
        prepare(
            tool,
            *sweep_args(
                workdir, "erm", storage="postgresql://u@127.0.0.1:1/db"
            ),
        )
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "sweep.py: error: Cannot open the storage. Received: "
        "storage='postgresql://u@127.0.0.1:1/db' ("
    )
    assert not workdir.exists()


def test_a_workdir_of_another_sweep_fails_in_one_line(
    tool, sqlite_sweep, capsys
):
    workdir = sqlite_sweep[0]
    before = snapshot(workdir)
    args = sweep_args(workdir, "erm")
    args[args.index("--n_hparams=2")] = "--n_hparams=3"
    with pytest.raises(SystemExit) as exit_:
        prepare(tool, *args)
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "sweep.py: error: The work directory holds another sweep. Received: "
        f"workdir={workdir!r} (n_hparams=2 there, 3 now). Use another "
        "workdir, or the same settings."
    )
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--n_hparams=0", "flag --n_hparams=0: 0 is not a positive integer"),
        ("--sampler=grid", "flag --sampler=grid: value should be one of"),
    ],
)
def test_bad_flags_fail_in_one_line(tmp_path, flag, message):
    workdir = tmp_path / "never"
    code, output = finish(start(*sweep_args(workdir, "erm"), flag), timeout=60)
    assert code == 2
    (line,) = output.strip().splitlines()
    assert line.startswith(f"sweep.py: error: {message}"), line
    assert not workdir.exists()


def test_status(tool, sqlite_sweep, capsys):
    # After the SQLite scenario: its sweep is complete.
    module, values, experiment_lib, sweeps_lib = tool
    workdir = sqlite_sweep[0]
    values.unparse_flags()
    values(["sweep.py", *sweep_args(workdir, "erm"), "--status"])
    module.show_status(
        module.make_config(values, experiment_lib, sweeps_lib), sweeps_lib
    )
    output = capsys.readouterr().out
    assert "| rotated_digits | erm | 4 | 0 | 0 | 0 | 0 |" in output
    assert "| all | | 4 | 0 | 0 | 0 | 0 |" in output
    assert "Every job has finished." in output
    assert "test-domain validation (oracle)" in output
