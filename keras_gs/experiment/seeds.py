"""Seeds of a run, derived from the experiment's seed and the trial index.

Runs are paired: every surgery and every target domain of trial `n` starts
from the same initial weights, draws its training batches in the same
order and its dropout masks from the same seed, so that surgeries are
compared on the same draws. Different trials draw differently.
"""

import hashlib


def derive(*parts) -> int:
    """A seed in [0, 2**31) from any printable parts, the same everywhere.

    A hash (not Python's `hash`, which changes between processes), so that
    a run started again in a new process gets the same seeds.

    >>> derive(0, "trial", 3) == derive(0, "trial", 3)
    True
    """
    text = "/".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") >> 1


def trial_seed(seed: int, trial: int) -> int:
    """The seed of trial `trial`: initial weights, dropout, surgery draws."""
    return derive(seed, "trial", trial)


def data_seed(trial_seed_: int) -> int:
    """The seed of the training batches' order (`zip_domains`).

    The stream is drawn by step from it, so a run resumed at any step
    draws the batches the uninterrupted run drew.
    """
    return derive(trial_seed_, "data")
