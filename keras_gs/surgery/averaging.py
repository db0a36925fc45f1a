"""Surgeries without surgery: the sum, the mean, and ERM (Deep-All)."""

import tensorflow as tf

from keras_gs.surgery.base import Surgery
from keras_gs.surgery.base import register
from keras_gs.surgery.running_sums import RunningSums


@register("sum")
class Sum(Surgery):
    """Sum of the domain gradients: phi = sum_k g_k."""

    jit_compile = True
    streams = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads, with_signs=False))

    def from_sums(self, sums):
        return sums.total


@register("mean")
class Mean(Surgery):
    """Mean of the domain gradients: phi = (1/K) sum_k g_k."""

    jit_compile = True
    streams = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads, with_signs=False))

    def from_sums(self, sums):
        return [t / tf.cast(sums.count, t.dtype) for t in sums.total]


@register("erm", "deep-all")
class ERM(Mean):
    """Empirical risk minimization, the paper's Deep-All baseline.

    `GradSurgeryModel` takes one gradient of the mean loss over the
    concatenated batch of all domains (BatchNorm sees the mixed batch); it
    then calls this surgery with that single gradient, which it returns
    unchanged. Called on K domain gradients it is their mean, which equals
    the ERM gradient for equal per-domain batches.
    """

    joint_batch = True
