"""AND-mask and SAND-mask, as in DomainBed (Parascandolo et al., 2021;
Shahtalebi et al., 2021)."""

import tensorflow as tf

from keras_gs.surgery.base import Surgery
from keras_gs.surgery.base import register
from keras_gs.surgery.running_sums import RunningSums


def _density_rescaled(mask, mean):
    """mask * mean_k g_k / (1e-10 + density(mask)), per variable tensor."""
    density = tf.reduce_mean(mask)
    return mask * mean / (1e-10 + density)


@register("and-mask")
class AndMask(Surgery):
    """AND-mask: the mean gradient where enough domains agree on the sign.

    Per variable tensor, m = |mean_k sign(g_k)| >= tau, and
    phi = m * mean_k g_k / (1e-10 + density(m)), density being the share
    of ones in that tensor. With tau = 1 the mask is Agr-Sum's.

    Args:
        tau: float, the agreement threshold in [0, 1]. Defaults to `1.0`.

    Reference: [Learning explanations that are hard to vary](
    https://arxiv.org/abs/2009.00329), ICLR 2021.
    """

    jit_compile = True

    def __init__(self, tau=1.0):
        if not 0.0 <= float(tau) <= 1.0:
            raise ValueError(
                f"and-mask: `tau` must be in [0, 1]. Received: tau={tau}"
            )
        self.tau = float(tau)

    streams = True
    needs_signs = True

    def combine(self, domain_grads, seed):
        return self.from_sums(RunningSums.of(domain_grads))

    def from_sums(self, sums):
        count = tf.cast(sums.count, sums.total[0].dtype)
        return [
            _density_rescaled(tf.cast(mask, total.dtype), total / count)
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


@register("sand-mask")
class SandMask(Surgery):
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

    jit_compile = True

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
            _density_rescaled(self._mask(grads), tf.reduce_mean(grads, axis=0))
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
