"""A small tmpfs, to fill a disk or make it read-only in a test."""

import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` (`"64k"`) mounted at `path`, unmounted after.

    Mounting needs root, which the project's CI and development machines
    have; elsewhere the test is skipped with the reason.
    """
    os.makedirs(path)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (a full or read-only disk)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
