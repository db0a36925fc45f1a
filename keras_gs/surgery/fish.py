"""Fish (Shi et al., 2021): gradient matching by sequential inner steps."""

import keras

from keras_gs.surgery.step_method import StepMethod
from keras_gs.surgery.step_method import check_at_least


@keras.saving.register_keras_serializable(package="keras_gs")
class Fish(StepMethod):
    """Fish: one inner optimizer step per domain, then a move toward them.

    Each training step, from the weights theta, takes one step of an
    inner optimizer on each source domain in turn (domain 0, then 1...),
    each at the weights the previous one left, then sets
    theta <- theta + meta_lr * (theta_inner - theta). Its first-order
    expansion rewards inner products between the domains' gradients
    ("gradient matching").

    As in DomainBed: the inner optimizer is a copy of the compiled one
    (same class and settings; its state persists across steps, saved with
    the model); the compiled optimizer applies nothing (it counts the
    steps); BatchNorm statistics move with the inner steps (each domain's
    batch in turn) and are interpolated with the weights. Each domain's
    loss is logged at the weights its inner step started from.

    Args:
        meta_lr: float, the step toward the inner weights (DomainBed draws
            it from {0.05, 0.1, 0.5}). Defaults to `0.5`.

    Reference: [Gradient Matching for Domain Generalization](
    https://arxiv.org/abs/2104.09937), Shi et al., ICLR 2022.
    """

    name = "fish"

    def __init__(self, meta_lr=0.5):
        self.meta_lr = check_at_least("fish", "meta_lr", meta_lr, 0.0)
        if self.meta_lr == 0.0:
            raise ValueError(
                "fish: `meta_lr` must be > 0 (0 never moves the weights). "
                f"Received: meta_lr={meta_lr!r}"
            )

    def get_config(self):
        return {"meta_lr": self.meta_lr}
