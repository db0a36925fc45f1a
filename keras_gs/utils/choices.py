"""One check for arguments that take one of a few names."""

from collections.abc import Iterable


def check_choice(value, valid: Iterable, argument: str, what: str):
    """Returns `value` if it is in `valid`, else raises a ValueError.

    The error names the argument, the value received and the valid ones:
    "Unknown <what>. Received: <argument>=<value>. Valid: a, b, c".
    """
    valid = sorted(valid) if isinstance(valid, (dict, set)) else list(valid)
    if value not in valid:
        raise ValueError(
            f"Unknown {what}. Received: {argument}={value!r}. Valid: "
            f"{', '.join(map(str, valid))}"
        )
    return value
