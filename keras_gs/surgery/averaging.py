"""Surgeries without surgery: the sum, the mean, and ERM (Deep-All)."""

import keras
import numpy as np
import tensorflow as tf

from keras_gs.surgery.gram_weighting import FixedWeighting


@keras.saving.register_keras_serializable(package="keras_gs")
class Sum(FixedWeighting):
    """Sum of the domain gradients: phi = sum_k g_k (weights 1).

    Scale: K identical gradients g give K g. LibMTL's `EW` computes this
    sum (its docstring says weights 1/K); TorchJD's `Sum`.
    """

    name = "sum"

    def fixed_weights(self, num_domains):
        return np.ones(num_domains)

    def from_sums(self, sums):
        return sums.total


@keras.saving.register_keras_serializable(package="keras_gs")
class Mean(FixedWeighting):
    """Mean of the domain gradients: phi = (1/K) sum_k g_k (weights 1/K).

    Scale: K identical gradients g give g. TorchJD's `Mean`.
    """

    name = "mean"

    def fixed_weights(self, num_domains):
        return np.full(num_domains, 1.0 / num_domains)

    def from_sums(self, sums):
        return [t / tf.cast(sums.count, t.dtype) for t in sums.total]


@keras.saving.register_keras_serializable(package="keras_gs")
class ERM(Mean):
    """Empirical risk minimization, the paper's Deep-All baseline.

    `GradSurgeryModel` takes one gradient of the mean loss over the
    concatenated batch of all domains (BatchNorm sees the mixed batch); it
    then calls this surgery with that single gradient, which it returns
    unchanged. Called on K domain gradients it is their mean, which equals
    the ERM gradient for equal per-domain batches.
    """

    name = "erm"
    aliases = ("deep-all",)
    joint_batch = True
