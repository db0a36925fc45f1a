"""Interrupting tools/train.py, then running the same command again.

The resumed run must be the run that was never interrupted: every
evaluation of its `results.json` equal to an uninterrupted run's. One run
is stopped twice, by Ctrl-C (a clean stop: exit 130, its backup kept) and
by kill -9 at a random step after a later backup; another by SIGTERM,
which a cluster sends before SIGKILL (exit 143 within seconds, a backup of
the chunk under way, possibly inside an evaluation period). A second
command started on the same work directory while a run trains leaves it
to its owner.
"""

import os
import random
import signal
import time

import pytest
import tensorflow as tf

from keras_gs.experiment import backup
from keras_gs.experiment import files
from keras_gs.experiment.run_lock import RunLock

from tool_helpers import TRAIN
from tool_helpers import finish
from tool_helpers import start

# Chunks of 10 steps (conflicts every 10), evaluations every 20: a stop
# can come inside an evaluation period.
STEPS = 200
COMMAND = [
    "--surgery=agr-rand",
    "--test_domains=75",
    f"--steps={STEPS}",
    "--eval_every=20",
    "--conflicts_every=10",
    "--backup_every=20",
    "--checkpoint_every=0",
    "--deterministic",
]


def run_paths(workdir):
    return files.RunPaths.of(str(workdir), "rotated_digits", "agr-rand", "75", 0)


def latest_backup(workdir):
    try:
        return backup.latest_progress(run_paths(workdir).checkpoints)
    except (OSError, ValueError, tf.errors.OpError):
        return None  # Replaced while being read.


def start_and_wait_for_backup(workdir, after_step=0):
    """Starts the command; returns once a backup past `after_step` exists."""
    process = start(TRAIN, *COMMAND, f"--workdir={workdir}")
    deadline = time.monotonic() + 240
    while True:
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, "no new backup after 240 s"
        loaded = latest_backup(workdir)
        if loaded and loaded["step"] > after_step:
            return process
        time.sleep(0.02)


class Uninterrupted:
    """The run never interrupted (started once, read when needed)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.process = start(TRAIN, *COMMAND, f"--workdir={workdir}")
        self.done = None

    def __call__(self):
        if self.done is None:
            self.done = finish(self.process)
        assert self.done.returncode == 0, self.done.stderr
        results = files.read_json(run_paths(self.workdir).results)
        assert results["resumed_from"] == [] and results["steps"] == STEPS
        return results


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return Uninterrupted(tmp_path_factory.mktemp("uninterrupted"))


def test_a_second_command_leaves_a_run_being_trained_alone(tmp_path):
    # This test's process holds the run, as a first command training it
    # would (the lock is the operating system's, released when its holder
    # dies).
    with RunLock(run_paths(tmp_path).root):
        second = finish(start(TRAIN, *COMMAND, f"--workdir={tmp_path}"))
    assert second.returncode == 0, second.stderr
    assert (
        "agr-rand/75/trial_0: being trained by another process (pid "
        f"{os.getpid()}): skipped." in second.stdout
    )
    assert not os.path.exists(run_paths(tmp_path).results)


def assert_same_run(resumed, reference):
    steps = [e["step"] for e in resumed["history"]]
    assert steps == list(range(20, STEPS + 1, 20))
    assert len(resumed["history"]) == len(reference["history"])
    for ours, theirs in zip(resumed["history"], reference["history"]):
        for key in (
            "step",
            "source_val_accuracy",
            "target_val_accuracy",
            "target_test_accuracy",
            "skipped_steps",
        ):
            assert ours[key] == theirs[key], (ours["step"], key)
        assert ours["train"].keys() == theirs["train"].keys()
        for key, value in ours["train"].items():
            # Float32 rounding of multi-threaded reductions between two
            # processes (see test_deterministic_runs_give_the_same_numbers).
            assert value == pytest.approx(theirs["train"][key], rel=1e-5), (
                ours["step"],
                key,
            )
    assert resumed["selection"] == reference["selection"]


def test_ctrl_c_then_kill_9_then_resume(tmp_path, uninterrupted):
    paths = run_paths(tmp_path)
    # Ctrl-C: a clean stop that keeps the backup.
    process = start_and_wait_for_backup(tmp_path)
    process.send_signal(signal.SIGINT)
    done = finish(process, timeout=60)
    assert done.returncode == 130, done
    assert "Traceback" not in done.stderr, done.stderr
    assert "Interrupted during agr-rand/75/trial_0" in done.stdout
    assert "Run the same command again to go on." in done.stdout
    assert not os.path.exists(paths.results)
    first = latest_backup(tmp_path)
    assert first["step"] >= 10

    # The same command resumes; kill -9 it at a random step after its next
    # backup.
    process = start_and_wait_for_backup(tmp_path, first["step"])
    time.sleep(random.uniform(0, 1.5))
    process.send_signal(signal.SIGKILL)
    done = finish(process)
    assert f"resuming from the checkpoint of step {first['step']}" in (
        done.stdout
    )
    assert not os.path.exists(paths.results)
    # Whenever the kill came, the backup parses (the manager writes it,
    # then points at it).
    second = latest_backup(tmp_path)
    assert second["step"] > first["step"]
    assert second["history"][: len(first["history"])] == first["history"]

    # The same command again: resumes and finishes.
    done = finish(start(TRAIN, *COMMAND, f"--workdir={tmp_path}"))
    assert done.returncode == 0, done.stderr
    assert f"resuming from the checkpoint of step {second['step']}" in (
        done.stdout
    )
    results = files.read_json(paths.results)
    assert results["resumed_from"] == [first["step"], second["step"]]
    assert results["history"][: len(second["history"])] == second["history"]
    assert results["steps"] == STEPS
    assert results["wall_time"] > second["wall_time"]
    assert not os.path.exists(paths.backup)
    assert_same_run(results, uninterrupted())


def test_sigterm_backs_up_and_exits_143_then_resumes(tmp_path, uninterrupted):
    process = start_and_wait_for_backup(tmp_path)
    time.sleep(random.uniform(0, 1.0))
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    done = finish(process, timeout=60)
    assert done.returncode == 143, done
    assert time.monotonic() - sent < 30
    assert "Traceback" not in done.stderr, done.stderr
    kept = latest_backup(tmp_path)
    assert (
        f"Stopped by SIGTERM during agr-rand/75/trial_0; the checkpoint of "
        f"step {kept['step']} is kept."
    ) in done.stdout
    assert kept["step"] % 10 == 0

    done = finish(start(TRAIN, *COMMAND, f"--workdir={tmp_path}"))
    assert done.returncode == 0, done.stderr
    results = files.read_json(run_paths(tmp_path).results)
    assert results["resumed_from"] == [kept["step"]]
    assert_same_run(results, uninterrupted())

