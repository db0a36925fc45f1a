"""Surgeries: rules that combine one gradient per domain into one update.

`get(name, **kwargs)` builds one by the name users type; `names()` lists
them. See `Surgery` for the contract a new surgery follows, and its two
families: `GramWeighting` (a weighting of the K x K Gram matrix of the
domain gradients) and `ElementwiseRule` (component by component). The table also
holds DomainBed's methods that change the training step itself (Fish,
Fishr, IGA: `StepMethod`), so that their names go wherever a surgery's do.
"""

import keras

from keras_gs.surgery.agr_rand import AgrRand
from keras_gs.surgery.agr_sum import AgrSum
from keras_gs.surgery.aligned_mtl import AlignedMTL
from keras_gs.surgery.and_mask import AndMask
from keras_gs.surgery.averaging import ERM
from keras_gs.surgery.averaging import Mean
from keras_gs.surgery.averaging import Sum
from keras_gs.surgery.base import Surgery
from keras_gs.surgery.cagrad import CAGrad
from keras_gs.surgery.config_rule import ConFIG
from keras_gs.surgery.dualproj import DualProj
from keras_gs.surgery.elementwise import ElementwiseRule
from keras_gs.surgery.elementwise import SignSumRule
from keras_gs.surgery.fish import Fish
from keras_gs.surgery.fishr import Fishr
from keras_gs.surgery.graddrop import GradDrop
from keras_gs.surgery.gradvac import GradVac
from keras_gs.surgery.gram_weighting import FixedWeighting
from keras_gs.surgery.gram_weighting import GramWeighting
from keras_gs.surgery.iga import IGA
from keras_gs.surgery.imtl_g import IMTLG
from keras_gs.surgery.mgda import MGDA
from keras_gs.surgery.nash_mtl import NashMTL
from keras_gs.surgery.pcgrad import PCGrad
from keras_gs.surgery.sand_mask import SandMask
from keras_gs.surgery.step_method import StepMethod
from keras_gs.surgery.upgrad import UPGrad
from keras_gs.utils.choices import check_choice

# The table of names users type, in the order tables list them (the
# baseline first, then the paper's surgeries, DomainBed's masks and the
# multi-task aggregators). Each class declares its own `name` and
# `aliases`.
_CLASSES = (
    ERM,
    Sum,
    Mean,
    AgrSum,
    AgrRand,
    PCGrad,
    AndMask,
    SandMask,
    MGDA,
    CAGrad,
    GradVac,
    IMTLG,
    UPGrad,
    DualProj,
    NashMTL,
    AlignedMTL,
    GradDrop,
    ConFIG,
)
# DomainBed's methods that change the step (after the surgeries in tables).
_CLASSES += (Fish, Fishr, IGA)
_TABLE: dict[str, type] = {
    name: cls for cls in _CLASSES for name in (cls.name, *cls.aliases)
}


def names(
    streams: bool | None = None, step_method: bool | None = None
) -> list[str]:
    """The surgery names (aliases included), sorted.

    Args:
        streams: None for all; True (False) for the surgeries that can
            (cannot) stream (`Surgery.streams`).
        step_method: None for all; False for the rules over gradients
            (those that can be called on gradients), True for the methods
            that change the step (`Surgery.step_method`).
    """
    return sorted(
        n
        for n, cls in _TABLE.items()
        if (streams is None or cls.streams == streams)
        and (step_method is None or cls.step_method == step_method)
    )


def registered() -> dict[str, type]:
    """The table: name -> class, in display order (baseline first)."""
    return dict(_TABLE)


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
        name = identifier.strip().lower()
        check_choice(
            name if name in _TABLE else identifier, names(), "surgery", "surgery"
        )
        cls = _TABLE[name]
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
    "AlignedMTL",
    "AndMask",
    "CAGrad",
    "ConFIG",
    "DualProj",
    "ERM",
    "ElementwiseRule",
    "Fish",
    "Fishr",
    "FixedWeighting",
    "GradDrop",
    "GradVac",
    "GramWeighting",
    "IGA",
    "IMTLG",
    "MGDA",
    "Mean",
    "NashMTL",
    "PCGrad",
    "SandMask",
    "SignSumRule",
    "StepMethod",
    "Sum",
    "Surgery",
    "UPGrad",
    "deserialize",
    "get",
    "names",
    "registered",
    "serialize",
]
