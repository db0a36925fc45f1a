"""Runs tools/sweep.py as a user does, and reads a sweep's storage."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "tools" / "sweep.py"


def load_sweep_tool():
    """tools/sweep.py as a module (its flags are defined by the caller)."""
    # The tools import `cli` and `train` from their own folder.
    if str(SWEEP.parent) not in sys.path:
        sys.path.insert(0, str(SWEEP.parent))
    spec = importlib.util.spec_from_file_location("sweep_tool", SWEEP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start(*args, **extra_env):
    """Starts tools/sweep.py; its output goes to a file beside nothing:
    returns the Popen (stdout and stderr together, as text)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra_env}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    return subprocess.Popen(
        [sys.executable, str(SWEEP), *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process, timeout=180):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"timed out after {timeout} s\n{output}") from None
    return process.returncode, output


def job_trials(storage_url, sweep_name):
    """`{study name: [FrozenTrial, ...]}` of every search of a sweep."""
    storage = optuna.storages.RDBStorage(storage_url)
    found = {}
    for summary in optuna.get_all_study_summaries(
        storage, include_best_trial=False
    ):
        if summary.study_name.startswith(sweep_name + "/"):
            study = optuna.load_study(
                study_name=summary.study_name, storage=storage
            )
            found[summary.study_name] = study.get_trials(deepcopy=False)
    storage.remove_session()
    storage.engine.dispose()
    return found
