"""IGA (Koyama & Yamaguchi, 2020): inter-domain gradient alignment."""

import keras

from keras_gs.surgery.step_method import StepMethod
from keras_gs.surgery.step_method import check_at_least


@keras.saving.register_keras_serializable(package="keras_gs")
class IGA(StepMethod):
    """IGA: the mean loss plus how far each domain's gradient is from the mean.

    objective = (1/K) sum_k L_k + penalty * sum_k |g_k - g_mean|^2, where
    g_k is domain k's gradient over every trainable variable and g_mean
    their mean, held constant (as DomainBed computes it: without a graph).
    Its gradient is g_mean + penalty * sum_k 2 H_k (g_k - g_mean): one
    Hessian-vector product per domain (second order, nested tapes). The
    logged `penalty` is sum_k |g_k - g_mean|^2.

    Args:
        penalty: float, the penalty's weight (DomainBed: 10^U(1, 5)).
            Defaults to `1000.0`.

    Reference: [Out-of-Distribution Generalization with Maximal Invariant
    Predictor](https://arxiv.org/abs/2008.01883), Koyama & Yamaguchi, 2020.
    """

    name = "iga"

    def __init__(self, penalty=1000.0):
        self.penalty = check_at_least("iga", "penalty", penalty, 0.0)

    def get_config(self):
        return {"penalty": self.penalty}
