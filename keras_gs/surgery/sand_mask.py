"""SAND-mask, as in DomainBed (Shahtalebi et al., 2021)."""

import keras
import tensorflow as tf

from keras_gs.surgery.and_mask import density_rescaled
from keras_gs.surgery.elementwise import ElementwiseRule


@keras.saving.register_keras_serializable(package="keras_gs")
class SandMask(ElementwiseRule):
    """SAND-mask: a smooth AND-mask weighted by the gradients' variance.

    Per variable tensor,
    mask = max(0, tanh(k / var_k(g) * (|mean_k sign(g_k)| - tau))), with the
    unbiased variance over domains, then
    phi = mask * mean_k g_k / (1e-10 + density(mask)). As in DomainBed, a
    NaN variance (one domain) becomes 1e-17 and a NaN mask entry (zero
    variance exactly at the threshold) becomes 1e-17.

    DomainBed's default tau = 1 makes the mask zero everywhere (tanh of a
    non-positive number, clipped at 0), so that no step ever moves; the
    default here is tau = 0.5, the middle of DomainBed's search range
    U(0, 1), with DomainBed's k = 10.

    Args:
        tau: float, the agreement threshold in [0, 1]. Defaults to `0.5`.
        k: float, the steepness of the tanh. Defaults to `10.0`.

    Reference: [SAND-mask](https://arxiv.org/abs/2106.02266), 2021.
    """

    name = "sand-mask"

    def __init__(self, tau=0.5, k=10.0):
        if not 0.0 <= float(tau) <= 1.0:
            raise ValueError(
                f"sand-mask: `tau` must be in [0, 1]. Received: tau={tau}"
            )
        if not float(k) > 0.0:
            raise ValueError(f"sand-mask: `k` must be > 0. Received: k={k}")
        self.tau = float(tau)
        self.k = float(k)

    def combine(self, domain_grads, seed):
        return [
            density_rescaled(self._mask(grads), tf.reduce_mean(grads, axis=0))
            for grads in _stacked(domain_grads)
        ]

    def replaced_masks(self, domain_grads):
        return [tf.equal(self._mask(g), 0.0) for g in _stacked(domain_grads)]

    def _mask(self, stacked):
        num_domains = stacked.shape[0]
        # Unbiased variance (torch's default), NaN for one domain.
        variance = tf.math.reduce_variance(stacked, axis=0) * (
            num_domains / (num_domains - 1) if num_domains > 1 else float("nan")
        )
        variance = tf.where(
            tf.math.is_nan(variance), tf.cast(1e-17, variance.dtype), variance
        )
        agreement = tf.abs(tf.reduce_mean(tf.sign(stacked), axis=0))
        smooth = tf.tanh(self.k / variance * (agreement - self.tau))
        return tf.where(
            tf.math.is_nan(smooth),
            tf.cast(1e-17, smooth.dtype),
            tf.maximum(smooth, 0.0),
        )

    def get_config(self):
        return {"tau": self.tau, "k": self.k}


def _stacked(domain_grads):
    """Per variable, the K domain gradients stacked on a new first axis."""
    return [tf.stack(grads) for grads in zip(*domain_grads)]
