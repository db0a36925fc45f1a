"""`InputError`: a problem with the user's input found while running.

Bad settings are refused before training (`ExperimentConfig.validate`,
`preflight`). Some problems only show later: a damaged run file, an image
file the decoder cannot read. They raise an `InputError` (a ValueError)
with one line naming the file and what to do, which `tools/train.py`
prints as such; any other exception keeps its traceback (it is a bug).
"""


class InputError(ValueError):
    """One line naming the file or value, and what to do."""
