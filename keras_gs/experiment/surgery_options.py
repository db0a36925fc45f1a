"""Checks `--surgery_options` (`<surgery>.<option>=<value>` entries).

What `surgery.get` cannot see by itself, each a one-line ValueError: an
option given twice (the last one won, and the run's recorded settings
then differed from the command's), an option of a surgery the run does
not train (silently unused), a value that is not a number where the
surgery's argument is one (the constructor's "could not convert string
to float" named no option), and a non-finite number (`c=inf` diverges).
"""

import inspect
import math
import numbers

from keras_gs import surgery as surgery_lib


def check(entries, surgeries, parse):
    """Raises a ValueError for the first bad entry of `entries`.

    Args:
        entries: tuple of str, the `surgery_options`.
        surgeries: tuple of str, the surgeries the run trains.
        parse: callable `(text) -> value`, how a value is read (numbers
            where they are numbers).
    """
    seen = {}
    shown = ",".join(entries)
    for entry in entries:
        target, _, rest = entry.partition(".")
        option, _, text = rest.partition("=")
        key = (target.strip().lower(), option)
        if key in seen:
            raise ValueError(
                f"`surgery_options` gives {target}.{option} twice "
                f"({seen[key]!r}, then {text!r}). Received: "
                f"surgery_options={shown}"
            )
        seen[key] = text
        if key[0] not in [s.lower() for s in surgeries]:
            raise ValueError(
                f"`surgery_options` sets {target}.{option}, but {target!r} "
                f"is not trained. Received: surgery={','.join(surgeries)}, "
                f"surgery_options={shown}. Add {target} to --surgery, or "
                "remove its options."
            )
        default = _default(key[0], option)
        if isinstance(default, numbers.Real) and not isinstance(default, bool):
            value = parse(text)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(
                    f"`{target}.{option}` must be a number. Received: "
                    f"surgery_options={entry!r}"
                )
            if not math.isfinite(value):
                raise ValueError(
                    f"`{target}.{option}` must be finite. Received: "
                    f"surgery_options={entry!r}"
                )


def _default(name, option):
    """The default of argument `option` of surgery `name`'s constructor,
    or None (no such argument, or no default)."""
    cls = surgery_lib.registered().get(name)
    if cls is None:
        return None
    parameter = inspect.signature(cls).parameters.get(option)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default
