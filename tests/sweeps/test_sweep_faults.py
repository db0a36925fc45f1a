"""End to end: a sweep on a PostgreSQL server with a password, SIGTERM to
a --workers=2 command, then a 20-second database outage (issue 31, items
4, 6, 7 and 9).

One scenario, its steps checked by the tests below:

1. `tools/sweep.py --workers=2`, the storage URL (with its password) in
   `KERAS_GS_SWEEP_STORAGE`; once the worker it started has backed up
   its job, SIGTERM to the parent alone (what Kubernetes and Slurm send).
2. The same command with one worker: during a job, the server is stopped
   for 20 s and started again; the sweep goes on to its end.

The processes are paused (SIGSTOP) at the two moments that must fall
mid-job, so that a fast job cannot end first: the order of events is
the same on any machine and under any load.

Throughout, every process's command line is read: the password must be
on none, nor in any output or file under the work directory.
"""

import contextlib
import glob
import io
import os
import re
import secrets
import signal
import time

import pytest

from keras_gs import experiment

import postgres_server as postgres_server_lib
from postgres_server import postgres_cluster
from sweep_helpers import finish
from sweep_helpers import start
from test_sweep_tool import Watch
from test_sweep_tool import backup_of
from test_sweep_tool import files_of
from test_sweep_tool import sweep_args
from test_sweep_tool import tool  # noqa: F401 (a fixture)

PASSWORD = "pw31-" + secrets.token_hex(6)
OUTAGE_SECONDS = 20
STOP_WITHIN = 60  # The grace period a cluster gives before SIGKILL.


def command_lines_with(text):
    """`{pid: command line}` of every process whose command line has
    `text`."""
    found = {}
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                line = f.read()
        except OSError:
            continue  # Ended meanwhile.
        if text.encode() in line:
            found[path.split("/")[2]] = line.replace(b"\0", b" ").decode()
    return found


def children_of(pid):
    children = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path, encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(path.split("/")[2]))
    return children


def sigterm_pending(pid):
    """Whether a SIGTERM waits for process `pid` (stopped by SIGSTOP)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            name, _, mask = line.partition(":")
            if name in ("SigPnd", "ShdPnd") and int(mask, 16) & (
                1 << (signal.SIGTERM - 1)
            ):
                return True
    return False


def running_jobs(watch, pid=None):
    """The jobs running now (on process `pid`, if given)."""
    return [
        job
        for job, worker in watch.running().items()
        if pid in (None, worker)
    ]


def wait_for(condition, timeout, leaks, what, process=None, every=0.1):
    """Polls `condition` until it gives a true value, reading every
    command line meanwhile. With `process`, fails at once (with its
    output) if it ends first, and shows its output on a time-out: a
    failure on a loaded CI machine must say what the sweep was doing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaks.update(command_lines_with(PASSWORD))
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            _, output = finish(process)
            raise AssertionError(
                f"the sweep exited with {process.returncode} before "
                f"{what}:\n{output}"
            )
        time.sleep(every)
    output = ""
    if process is not None:
        process.kill()
        output, _ = process.communicate()
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}\n{output}"
    )


def status_of(tool, args, url):
    """What `tools/sweep.py --status` prints (run here: no new process),
    the URL given as --storage."""
    module, values, experiment_lib, sweeps_lib = tool
    values.unparse_flags()
    values(["sweep.py", *args, f"--storage={url}", "--status"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        module.show_status(
            module.make_config(values, experiment_lib, sweeps_lib), sweeps_lib
        )
    values.unparse_flags()
    return printed.getvalue()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, tool):  # noqa: F811
    reason = postgres_server_lib.unavailable()
    if reason:
        postgres_server_lib.skip_or_fail(reason)
    workdir = str(tmp_path_factory.mktemp("faults") / "digits")
    # Four jobs (two configurations, two targets) of 4 evaluations, backed
    # up from step 25: the SIGTERM comes early in the job it interrupts.
    args = sweep_args(workdir, "erm") + [
        "--steps=100",
        "--eval_every=25",
        "--backup_every=25",
        "--grace_period=60",
        f"--storage_retry_seconds={3 * OUTAGE_SECONDS}",
    ]
    found = {"leaks": {}}
    with postgres_cluster(password=PASSWORD) as cluster:
        env = {"KERAS_GS_SWEEP_STORAGE": cluster.url}
        # 1. SIGTERM to a --workers=2 command.
        parent = start(*args, "--workers=2", **env)
        watch = Watch(cluster.url, "digits", timeout=300)
        child = wait_for(
            lambda: children_of(parent.pid),
            300,
            found["leaks"],
            "a worker",
            process=parent,
        )[0]
        # Once the worker it started has backed up its job (the first
        # backup, step 25: looked for every few milliseconds), the worker
        # is paused: the SIGTERM the parent passes on then finds that job
        # mid-run, however fast its last steps would be.
        child_job = wait_for(
            lambda: running_jobs(watch, pid=child),
            240,
            found["leaks"],
            "a running job of the worker",
            process=parent,
        )[0]
        wait_for(
            lambda: os.path.exists(backup_of(workdir, child_job)),
            240,
            found["leaks"],
            "the first backup of the worker's job",
            process=parent,
            every=0.002,
        )
        os.kill(child, signal.SIGSTOP)
        try:
            found["child_job"] = [child_job]
            workers = children_of(parent.pid)
            parent.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            wait_for(
                lambda: sigterm_pending(child),
                STOP_WITHIN,
                found["leaks"],
                "the parent to pass the SIGTERM on",
            )
        finally:
            os.kill(child, signal.SIGCONT)
        found["stop"] = finish(parent, timeout=STOP_WITHIN)
        found["stop_seconds"] = time.monotonic() - signalled
        found["workers_left"] = [
            pid for pid in workers if os.path.exists(f"/proc/{pid}")
        ]
        found["after_stop"] = [
            (state.job, state.state)
            for by in watch.sweep.job_states().values()
            for state in by
        ]
        # 2. One worker; the server down for 20 s during a job.
        rerun = start(*args, "--workers=1", **env)
        try:
            wait_for(
                lambda: running_jobs(watch),
                240,
                found["leaks"],
                "a running job",
                process=rerun,
            )
        except AssertionError as failed:
            raise AssertionError(
                f"{failed}\nafter the SIGTERM: {found['after_stop']}\n"
                f"the SIGTERM'd command printed:\n{found['stop'][1]}"
            ) from None
        # Paused while the server stops, the job is still mid-run when the
        # server goes (however fast the machine).
        rerun.send_signal(signal.SIGSTOP)
        try:
            cluster.stop()
        finally:
            rerun.send_signal(signal.SIGCONT)
        down = time.monotonic()
        wait_for(
            lambda: time.monotonic() - down >= OUTAGE_SECONDS,
            OUTAGE_SECONDS + 5,
            found["leaks"],
            "the outage",
        )
        cluster.start()
        found["outage_seconds"] = time.monotonic() - down
        found["rerun"] = finish(rerun, timeout=240)
        found["status"] = status_of(tool, args, cluster.url)
        found["states"] = [
            state for by in watch.sweep.job_states().values() for state in by
        ]
        watch.sweep.storage.engine.dispose()
    found["workdir"] = workdir
    return found


def interrupted_jobs(scenario):
    """The jobs whose runs said they stopped for the SIGTERM."""
    names = re.findall(
        r"^(\S+): interrupted \(SIGTERM\)", scenario["stop"][1], re.M
    )
    return {
        state.job for state in scenario["states"] if state.job.name in names
    }


def test_sigterm_to_a_parent_stops_every_worker_with_runs_backed_up(scenario):
    code, output = scenario["stop"]
    assert code == 143, output
    assert scenario["stop_seconds"] < STOP_WITHIN
    assert scenario["workers_left"] == []
    assert "exited with 143" in output, output  # The worker it started.
    # The worker's job stopped too, and waits again with the parent's.
    interrupted = interrupted_jobs(scenario)
    assert set(scenario["child_job"]) <= interrupted, output
    states = dict(scenario["after_stop"])
    for job in interrupted:
        assert states[job] == "pending"
    assert "running" not in states.values()
    assert "failed" not in states.values()


def test_a_20_second_outage_costs_no_traceback_and_no_work(scenario):
    code, output = scenario["rerun"]
    assert code == 0, output
    assert "Traceback" not in output
    unreachable = [l for l in output.splitlines() if "is unreachable" in l]
    back = [l for l in output.splitlines() if "reachable again" in l]
    assert len(unreachable) == 1 and len(back) == 1, output
    assert unreachable[0].startswith(
        "The storage postgresql://postgres:***@127.0.0.1:"
    )
    # Every job done exactly once; the SIGTERM'd ones from their backups.
    assert len(scenario["states"]) == 4
    for state in scenario["states"]:
        assert state.state == "done"
        results = experiment.files.read_json(
            files_of(scenario["workdir"], state.job).results
        )
        assert [e["step"] for e in results["history"]] == [25, 50, 75, 100]
        if state.job in interrupted_jobs(scenario):
            assert results["resumed_from"], state.job


def test_the_password_is_in_no_output_file_or_command_line(scenario):
    assert scenario["leaks"] == {}
    for _, output in (scenario["stop"], scenario["rerun"]):
        assert PASSWORD not in output
    assert PASSWORD not in scenario["status"]
    assert "in postgresql://postgres:***@127.0.0.1:" in scenario["status"]
    # The start-up line names the storage, masked.
    assert "storage postgresql://postgres:***@127.0.0.1:" in scenario["stop"][1]
    for path in glob.glob(
        os.path.join(scenario["workdir"], "**"), recursive=True
    ):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert PASSWORD.encode() not in f.read(), path
