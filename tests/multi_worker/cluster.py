"""Starts the workers of a localhost MultiWorkerMirroredStrategy job."""

import json
import os
import pathlib
import socket
import subprocess
import sys

WORKER = pathlib.Path(__file__).with_name("worker_main.py")


def free_ports(count):
    """Ports free now: bound to port 0 together, so they are distinct."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """Two worker processes; every process is killed on exit.

    Args:
        tmp_path: pathlib.Path, where results and logs go.
        spec: dict, the job spec shared by the workers (see worker_main).
    """

    def __init__(self, tmp_path, spec, num_workers=2):
        self.tmp_path = tmp_path
        self.ports = free_ports(num_workers)
        self.processes = []
        self.logs = []
        for index in range(num_workers):
            worker_spec = dict(
                spec,
                ports=self.ports,
                index=index,
                out=str(tmp_path / f"worker_{index}.json"),
            )
            log = open(tmp_path / f"worker_{index}.log", "w")
            self.logs.append(log)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            env.pop("TF_CONFIG", None)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER), json.dumps(worker_spec)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )

    def wait(self, index, timeout):
        """Waits for worker `index`; fails with its log on a timeout."""
        try:
            return self.processes[index].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {index} did not finish within {timeout} s. "
                f"Its log:\n{self.log(index)}"
            ) from None

    def results(self, timeout=240):
        """Every worker's results once all exited 0; else their logs."""
        for index in range(len(self.processes)):
            code = self.wait(index, timeout)
            assert code == 0, (
                f"worker {index} exited with {code}. Its log:\n"
                f"{self.log(index)}"
            )
        return [
            json.loads((self.tmp_path / f"worker_{i}.json").read_text())
            for i in range(len(self.processes))
        ]

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def log(self, index):
        self.logs[index].flush()
        return (self.tmp_path / f"worker_{index}.log").read_text()[-4000:]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        for log in self.logs:
            log.close()
