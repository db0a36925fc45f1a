"""AND-mask, as in DomainBed (Parascandolo et al., 2021)."""

import keras
import tensorflow as tf

from keras_gs.surgery.elementwise import SignSumRule
from keras_gs.surgery.running_sums import RunningSums


def density_rescaled(mask, mean):
    """mask * mean_k g_k / (1e-10 + density(mask)), per variable tensor."""
    density = tf.reduce_mean(mask)
    return mask * mean / (1e-10 + density)


@keras.saving.register_keras_serializable(package="keras_gs")
class AndMask(SignSumRule):
    """AND-mask: the mean gradient where enough domains agree on the sign.

    Per variable tensor, m = |mean_k sign(g_k)| >= tau, and
    phi = m * mean_k g_k / (1e-10 + density(m)), density being the share
    of ones in that tensor. With tau = 1 the mask is Agr-Sum's.

    Args:
        tau: float, the agreement threshold in [0, 1]. Defaults to `1.0`.

    Reference: [Learning explanations that are hard to vary](
    https://arxiv.org/abs/2009.00329), ICLR 2021.
    """

    name = "and-mask"

    def __init__(self, tau=1.0):
        if not 0.0 <= float(tau) <= 1.0:
            raise ValueError(
                f"and-mask: `tau` must be in [0, 1]. Received: tau={tau}"
            )
        self.tau = float(tau)

    def from_sums(self, sums):
        count = tf.cast(sums.count, sums.total[0].dtype)
        return [
            density_rescaled(tf.cast(mask, total.dtype), total / count)
            for total, mask in zip(sums.total, self._masks(sums))
        ]

    def replaced_masks(self, domain_grads):
        return [
            tf.logical_not(m) for m in self._masks(RunningSums.of(domain_grads))
        ]

    def _masks(self, sums):
        return [
            tf.abs(s / tf.cast(sums.count, s.dtype)) >= self.tau
            for s in sums.sign_sum
        ]

    def get_config(self):
        return {"tau": self.tau}
