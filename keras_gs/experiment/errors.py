"""`InputError`: a problem with the user's input found while running.

Bad settings are refused before training (`ExperimentConfig.validate`,
`preflight`). Some problems only show later: a damaged run file, an image
file the decoder cannot read. They raise an `InputError` (a ValueError)
with one line naming the file and what to do, which `tools/train.py`
prints as such; any other exception keeps its traceback (it is a bug).
"""


class InputError(ValueError):
    """One line naming the file or value, and what to do."""


def differing_settings(recorded: dict, current: dict, now: str = "now") -> str:
    """The settings of `current` that `recorded` gives otherwise, listed as
    `lr=0.001 there, 0.01 now, ...`; empty when none differ."""
    return ", ".join(
        f"{k}={recorded.get(k)!r} there, {v!r} {now}"
        for k, v in current.items()
        if recorded.get(k) != v
    )
