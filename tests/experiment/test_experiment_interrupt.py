"""Interrupting tools/train.py, then running the same command again.

One run is stopped twice: by Ctrl-C (a clean stop: exit 130, no traceback,
its backup kept), then, after it resumed, by kill -9 at its next backup;
the third command finishes it. The run (1000 steps, a backup every 10) is
long enough that the test sees each backup before the run ends.
"""

import os
import signal
import time

from keras_gs.experiment import checkpoints
from keras_gs.experiment import files

from tool_helpers import TRAIN
from tool_helpers import finish
from tool_helpers import start

COMMAND = [
    "--surgery=erm",
    "--test_domains=75",
    "--steps=1000",
    "--eval_every=10",
    "--backup_every=10",
    "--checkpoint_every=0",
    "--nodeterministic",
]


def start_and_wait_for_backup(workdir, after_step=0):
    """Starts the command; returns once a backup past `after_step` exists."""
    process = start(TRAIN, *COMMAND, f"--workdir={workdir}")
    paths = files.RunPaths.of(str(workdir), "rotated_digits", "erm", "75", 0)
    deadline = time.monotonic() + 180
    while True:
        assert process.poll() is None, finish(process)
        assert time.monotonic() < deadline, "no new backup after 180 s"
        try:
            loaded = checkpoints.load_resume(paths.resume)
        except (OSError, ValueError):  # Replaced while being read.
            loaded = None
        if loaded and loaded[1]["step"] > after_step:
            return process, paths
        time.sleep(0.02)


def test_ctrl_c_then_kill_9_then_resume(tmp_path):
    # Ctrl-C: a clean stop that keeps the backup.
    process, paths = start_and_wait_for_backup(tmp_path)
    process.send_signal(signal.SIGINT)
    done = finish(process, timeout=60)
    assert done.returncode == 130, done
    assert "Traceback" not in done.stderr, done.stderr
    assert "Interrupted during erm/75/trial_0" in done.stdout
    assert "Run the same command again to go on." in done.stdout
    assert not os.path.exists(paths.results)
    _, first = checkpoints.load_resume(paths.resume)
    assert first["step"] >= 10

    # The same command resumes; kill -9 it at a later backup.
    process, _ = start_and_wait_for_backup(tmp_path, first["step"])
    process.send_signal(signal.SIGKILL)
    done = finish(process)
    assert f"resuming from the checkpoint of step {first['step']}" in (
        done.stdout
    )
    assert not os.path.exists(paths.results)
    # Whenever the kill came, the backup parses (it is written atomically).
    _, second = checkpoints.load_resume(paths.resume)
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
    history = results["history"]
    # The history before each stop is kept as it was, and goes on from it.
    assert history[: len(second["history"])] == second["history"]
    assert [e["step"] for e in history] == list(range(10, 1001, 10))
    assert results["steps"] == 1000
    assert set(results["selection"]) == {"best_val", "last", "oracle"}
    assert results["wall_time"] > second["wall_time"]
    assert not os.path.exists(paths.resume)
