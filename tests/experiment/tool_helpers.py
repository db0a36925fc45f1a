"""Runs tools/train.py and tools/collect_results.py as the user does."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from absl import flags

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "tools" / "train.py"
COLLECT = ROOT / "tools" / "collect_results.py"


def load_train_tool():
    """tools/train.py as a module (its flags are defined by the caller)."""
    # The tools import their shared module `cli` from their own folder.
    if str(TRAIN.parent) not in sys.path:
        sys.path.insert(0, str(TRAIN.parent))
    spec = importlib.util.spec_from_file_location("train_tool", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(tool, *args):
    """train.py's flags parsed from `args` into a fresh FlagValues."""
    values = flags.FlagValues()
    tool.define_flags(values)
    values(["train.py", *map(str, args)])
    return values


def command(script, *args):
    return [sys.executable, str(script), *map(str, args)]


def environment(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def start(script, *args, **extra_env):
    """Starts a tool; returns the Popen (text stdout/stderr pipes)."""
    return subprocess.Popen(
        command(script, *args),
        cwd=ROOT,
        env=environment(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=240):
    """Waits for `process`; returns a CompletedProcess."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"timed out after {timeout} s\n{stdout}\n{stderr}"
        ) from None
    return subprocess.CompletedProcess(
        process.args, process.returncode, stdout, stderr
    )


def run(script, *args, timeout=240, **extra_env):
    return finish(start(script, *args, **extra_env), timeout)
