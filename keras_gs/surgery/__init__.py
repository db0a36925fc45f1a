"""Surgeries: rules that combine one gradient per domain into one update.

`get(name, **kwargs)` builds one by the name users type; `names()` lists
them. See `Surgery` for the contract a new surgery follows.
"""

import keras

from keras_gs.surgery.agreement import AgrRand
from keras_gs.surgery.agreement import AgrSum
from keras_gs.surgery.and_mask import AndMask
from keras_gs.surgery.and_mask import SandMask
from keras_gs.surgery.averaging import ERM
from keras_gs.surgery.averaging import Mean
from keras_gs.surgery.averaging import Sum
from keras_gs.surgery.base import Surgery
from keras_gs.surgery.base import register
from keras_gs.surgery.base import registered
from keras_gs.surgery.pcgrad import PCGrad


def names() -> list[str]:
    """The registered surgery names (aliases included), sorted."""
    return sorted(registered())


def get(identifier, **kwargs) -> Surgery:
    """Returns a surgery from its name, its serialized config, or itself.

    Args:
        identifier: a registered name such as `"agr-sum"` (case-insensitive),
            a dict from `serialize`, or a `Surgery` instance.
        **kwargs: the surgery's arguments, e.g. `tau=0.8` for `"and-mask"`.

    Example:

    >>> keras_gs.surgery.get("and-mask", tau=0.8)
    AndMask(tau=0.8)
    """
    if isinstance(identifier, Surgery):
        if kwargs:
            raise ValueError(
                f"Arguments {sorted(kwargs)} cannot be applied to an existing "
                f"surgery object {identifier!r}; pass its name instead."
            )
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = registered().get(identifier.strip().lower())
        if cls is None:
            raise ValueError(
                f"Unknown surgery. Received: surgery={identifier!r}. "
                f"Valid: {names()}."
            )
        try:
            return cls(**kwargs)
        except TypeError as error:
            raise ValueError(
                f"Invalid arguments for surgery {identifier!r}: {kwargs}. "
                f"({error})"
            ) from None
    raise ValueError(
        "A surgery must be a name, a config dict or a keras_gs.surgery.Surgery. "
        f"Received: surgery={identifier!r} of type {type(identifier).__name__}. "
        f"Valid names: {names()}."
    )


def serialize(surgery: Surgery) -> dict:
    """The Keras-serialized config of a surgery."""
    return keras.saving.serialize_keras_object(surgery)


def deserialize(config: dict) -> Surgery:
    """The surgery that `serialize` described."""
    return keras.saving.deserialize_keras_object(config)


__all__ = [
    "AgrRand",
    "AgrSum",
    "AndMask",
    "ERM",
    "Mean",
    "PCGrad",
    "SandMask",
    "Sum",
    "Surgery",
    "deserialize",
    "get",
    "names",
    "register",
    "serialize",
]
