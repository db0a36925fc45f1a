"""Surgeries without surgery: the sum, the mean, and ERM (Deep-All)."""

import keras
import tensorflow as tf

from keras_gs.surgery.base import Surgery
from keras_gs.surgery.running_sums import RunningSums


@keras.saving.register_keras_serializable(package="keras_gs")
class Sum(Surgery):
    """Sum of the domain gradients: phi = sum_k g_k."""

    name = "sum"
    jit_compile = True
    streams = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads, with_signs=False))

    def from_sums(self, sums):
        return sums.total


@keras.saving.register_keras_serializable(package="keras_gs")
class Mean(Surgery):
    """Mean of the domain gradients: phi = (1/K) sum_k g_k."""

    name = "mean"
    jit_compile = True
    streams = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads, with_signs=False))

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
