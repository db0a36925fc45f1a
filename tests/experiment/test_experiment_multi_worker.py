"""`tools/train.py --strategy=multi_worker`: two worker processes on
localhost train the runs of one process, and only the chief writes.

The step itself is exact across workers (tests/multi_worker); here the
small CNN's dropout draws differ per replica, so the runs are compared by
their loss, not bit for bit."""

import json
import os
import sys

import numpy as np

import tool_helpers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "multi_worker"))
from cluster import free_ports  # noqa: E402

FLAGS = (
    "--surgery=agr-sum",
    "--test_domains=0",
    "--steps=20",
    "--eval_every=10",
    "--backup_every=10",
    "--checkpoint_every=0",
)


def results(workdir):
    path = workdir / "rotated_digits" / "agr-sum" / "0" / "trial_0"
    return json.loads((path / "results.json").read_text())


def test_two_workers_train_the_runs_of_one_process(tmp_path):
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
        workers.append(
            tool_helpers.start(
                tool_helpers.TRAIN,
                *FLAGS,
                "--strategy=multi_worker",
                f"--workdir={tmp_path / f'worker_{index}'}",
                TF_CONFIG=json.dumps(tf_config),
            )
        )
    single = tool_helpers.run(
        tool_helpers.TRAIN, *FLAGS, f"--workdir={tmp_path / 'single'}"
    )
    assert single.returncode == 0, single.stderr
    for index, process in enumerate(workers):
        done = tool_helpers.finish(process)
        assert done.returncode == 0, f"worker {index}:\n{done.stderr}"
    # Worker 1 is not the chief: it trains but writes nothing.
    assert not (tmp_path / "worker_1").exists()
    chief, alone = results(tmp_path / "worker_0"), results(tmp_path / "single")
    assert [e["step"] for e in chief["history"]] == [10, 20]
    assert chief["steps"] == alone["steps"] == 20
    for a, b in zip(chief["history"], alone["history"]):
        assert a["skipped_steps"] == 0
        np.testing.assert_allclose(
            a["train"]["loss"], b["train"]["loss"], rtol=0.05
        )
