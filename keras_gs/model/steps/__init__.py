"""Training-step rules: how `GradSurgeryModel.train_step` makes an update.

`for_surgery(surgery)` returns the rule of a registered name: the
surgeries' `SurgeryStep` (one gradient per domain, combined), or the step
of one of DomainBed's methods that change the step itself (Fish, Fishr,
IGA). `StepRule` is the contract, `StepContext` what a rule reads of
the model; `StepState` holds a rule's variables.
"""

from keras_gs import surgery as surgery_lib
from keras_gs.model.steps.base import StepContext
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule
from keras_gs.model.steps.base import StepState
from keras_gs.model.steps.base import step_seed
from keras_gs.model.steps.fish import FishStep
from keras_gs.model.steps.fishr import FishrStep
from keras_gs.model.steps.iga import IGAStep
from keras_gs.model.steps.surgery_step import SurgeryStep

# The methods with a step of their own; every other surgery is combined.
_RULES = {
    surgery_lib.Fish: FishStep,
    surgery_lib.Fishr: FishrStep,
    surgery_lib.IGA: IGAStep,
}


def for_surgery(surgery) -> StepRule:
    """A new step rule for a `keras_gs.surgery.Surgery` (one per model)."""
    rule = _RULES.get(type(surgery))
    if rule is None:
        if surgery.step_method:
            raise ValueError(
                f"No training step is registered for {surgery.name!r} "
                f"({type(surgery).__name__}). Registered: "
                f"{sorted(cls.name for cls in _RULES)}."
            )
        return SurgeryStep(surgery)
    return rule(surgery)


__all__ = [
    "FishStep",
    "FishrStep",
    "IGAStep",
    "StepContext",
    "StepOutcome",
    "StepRule",
    "StepState",
    "SurgeryStep",
    "for_surgery",
    "step_seed",
]
