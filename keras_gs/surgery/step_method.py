"""`StepMethod`: a registered name for a method that changes the step itself."""

from keras_gs.surgery.base import Surgery


class StepMethod(Surgery):
    """A domain-generalization method that is not a rule over K gradients.

    Fish, Fishr and IGA (DomainBed) do not combine K domain gradients
    taken at one point: Fish takes one optimizer step per domain in turn,
    Fishr and IGA add a penalty to the loss and differentiate through it.
    Each is a training-step variant of `GradSurgeryModel`: it is registered
    beside the surgeries, so that users type its name wherever a surgery
    name goes (`GradSurgeryModel(surgery="fish")`, `--surgery=fish`,
    `--surgery_options=fish.meta_lr=0.1`), and `GradSurgeryModel` runs its
    step (`keras_gs.model.steps`).

    A subclass holds the method's hyperparameters only: it sets `name`,
    validates its arguments, overrides `get_config`, and registers itself
    with Keras serialization. Calling it on gradients is an error.
    """

    step_method = True

    def combine(self, domain_grads, seed):
        del domain_grads, seed
        raise ValueError(
            f"{self.name!r} is not a combination of domain gradients: it "
            "changes the training step itself. Train it with "
            f"keras_gs.GradSurgeryModel(network, surgery={self.name!r})."
        )


def check_at_least(method, name, value, minimum, below=None):
    """`value` as a float, or a ValueError naming the method's argument."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= minimum or (below is not None and not number < below):
        valid = f">= {minimum}" + (f" and < {below}" if below is not None else "")
        raise ValueError(
            f"{method}: `{name}` must be {valid}. Received: {name}={value!r}"
        )
    return number
