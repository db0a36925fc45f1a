"""Fishr (Rame et al., 2022): matching the domains' gradient variances."""

import keras

from keras_gs.surgery.step_method import StepMethod
from keras_gs.surgery.step_method import check_at_least


@keras.saving.register_keras_serializable(package="keras_gs")
class Fishr(StepMethod):
    """Fishr: ERM plus a penalty on how the gradient variances differ.

    One forward pass over all domains' examples (as `erm`). For each
    domain k, v_k is the variance over its examples of the per-example
    gradients of the network's last layer (a `Dense` layer without
    activation: the classifier; weight and bias), kept as an exponential
    moving average per domain. The penalty is the mean over domains of
    the mean squared distance of v_k to the domains' mean, and the
    objective is the ERM loss + `lambda` * penalty. `lambda` is 0 for the
    first `penalty_anneal_iters` steps; at that step the optimizer's
    state is reset, as DomainBed re-creates Adam (the step count, which
    is the run's, is kept).

    As in DomainBed, the moving average is returned divided by
    (1 - ema), so the current variance's coefficient is 1. The logged
    `penalty` is the penalty before `lambda`.

    Args:
        lambda: float, the penalty's weight once on (DomainBed: 10^U(1, 4)).
            `lambda_` in Python code (a keyword there). Defaults to `1000.0`.
        penalty_anneal_iters: int, steps of plain ERM first (DomainBed:
            U(0, 5000)). Defaults to `1500`.
        ema: float in [0, 1), the moving average's decay (DomainBed:
            U(0.90, 0.99)). Defaults to `0.95`.

    Example:

    >>> keras_gs.surgery.get("fishr", **{"lambda": 100.0})
    Fishr(lambda=100.0, penalty_anneal_iters=1500, ema=0.95)

    Reference: [Fishr: Invariant Gradient Variances for Out-of-Distribution
    Generalization](https://arxiv.org/abs/2109.02934), Rame et al., ICML
    2022.
    """

    name = "fishr"
    joint_batch = True

    def __init__(self, lambda_=None, penalty_anneal_iters=1500, ema=0.95, **kwargs):
        # DomainBed's name `lambda` (what `fishr.lambda=...` gives) is a
        # Python keyword: it comes in `kwargs`.
        unknown = sorted(set(kwargs) - {"lambda"})
        if unknown:
            raise TypeError(f"unexpected arguments {unknown}")
        if lambda_ is not None and "lambda" in kwargs:
            raise ValueError(
                "fishr: give `lambda` or `lambda_`, not both. Received: "
                f"lambda={kwargs['lambda']!r}, lambda_={lambda_!r}"
            )
        weight = kwargs.get("lambda", 1000.0 if lambda_ is None else lambda_)
        self.penalty_weight = check_at_least("fishr", "lambda", weight, 0.0)
        anneal = check_at_least(
            "fishr", "penalty_anneal_iters", penalty_anneal_iters, 0
        )
        if anneal != int(anneal):
            raise ValueError(
                "fishr: `penalty_anneal_iters` must be an integer. "
                f"Received: penalty_anneal_iters={penalty_anneal_iters!r}"
            )
        self.penalty_anneal_iters = int(anneal)
        self.ema = check_at_least("fishr", "ema", ema, 0.0, below=1.0)

    def get_config(self):
        return {
            "lambda": self.penalty_weight,
            "penalty_anneal_iters": self.penalty_anneal_iters,
            "ema": self.ema,
        }
