"""Agr-Sum, the paper's surgery (Mansilla et al., 2021)."""

import keras
import tensorflow as tf

from keras_gs.surgery.elementwise import SignSumRule
from keras_gs.surgery.running_sums import RunningSums


@keras.saving.register_keras_serializable(package="keras_gs")
class AgrSum(SignSumRule):
    """Agr-Sum: keep only the components whose sign all domains agree on.

    m_j = 1 iff |sum_k sign(g_kj)| = K (a zero is disagreement), and
    phi = m * sum_k g_k: a sum, not a mean, with no rescaling.

    Reference: [Domain Generalization via Gradient Surgery](
    https://arxiv.org/abs/2108.01621), ICCV 2021.
    """

    name = "agr-sum"

    def from_sums(self, sums):
        return [
            tf.where(mask, total, tf.zeros_like(total))
            for total, mask in zip(sums.total, sums.agreement_masks())
        ]

    def replaced_masks(self, domain_grads):
        return disagreeing(RunningSums.of(domain_grads))


def disagreeing(sums):
    """Per variable, the components whose signs do not all agree."""
    return [tf.logical_not(mask) for mask in sums.agreement_masks()]
