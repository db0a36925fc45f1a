"""One BatchNorm moving-statistics update per step from all domains' batches.

With one forward pass per domain, each `BatchNormalization` layer updates its
moving statistics once per pass: K updates per step, the effective momentum
is m^K and the last domain weighs most (0.1, 0.09, 0.081 for m = 0.9, K = 3),
so the statistics depend on the order of the domains. `JointStatistics`
records every pass's batch moments and replaces those K updates by one, from
the moments of all domains' examples together: the moving statistics that
`erm` keeps on the concatenated batch. Inside each pass the layer still
normalizes with the domain's own batch statistics.

Under `tf.distribute` the recorded moments are averaged across replicas, so
the update uses the global batch's statistics and every replica keeps the
same moving statistics: those of one device on the same global batch. (Left
to itself, a Keras 3 BatchNormalization layer under MirroredStrategy updates
each replica's copy with that replica's own statistics, and the copies
drift apart.)
"""

import contextlib

import keras
import tensorflow as tf

from keras_gs.model import call_recorder
from keras_gs.model import keras_compat
from keras_gs.utils import distribute

BATCHNORM_UPDATES = ("joint", "per_domain")


def for_step(network, update):
    """How a step treats BatchNorm statistics: a `JointStatistics` for
    `update="joint"` when `network` has BatchNorm layers to handle, else an
    object that leaves them to Keras (each pass updates them)."""
    if update == "joint":
        statistics = JointStatistics(network)
        if statistics.layers:
            return statistics
    return _LeftToKeras()


class _LeftToKeras:
    def recording(self):
        return contextlib.nullcontext()

    def apply(self, applied):
        del applied


class JointStatistics:
    """Records BatchNorm batch moments over a step's passes; updates once.

    Args:
        network: the `keras.Model` or layer whose trainable, non-renorm
            `BatchNormalization` layers are handled (frozen layers keep
            their statistics anyway; renorm layers keep their own update).
    """

    def __init__(self, network):
        self.layers = [
            layer
            for layer in keras_compat.all_layers(network)
            if isinstance(layer, keras.layers.BatchNormalization)
            and layer.trainable
            and not layer.renorm
        ]
        self._start = {}
        self._moments = {}

    @contextlib.contextmanager
    def recording(self):
        """Within: every training-mode pass records its batch moments.

        The moving statistics are read first; the per-pass updates that
        the layers still make in between are overwritten by `apply`.
        """
        self._start = {
            id(layer): (
                tf.identity(layer.moving_mean.value),
                tf.identity(layer.moving_variance.value),
            )
            for layer in self.layers
        }
        self._moments = {id(layer): [] for layer in self.layers}
        with contextlib.ExitStack() as stack:
            for layer in self.layers:
                moments = self._moments[id(layer)]
                stack.enter_context(
                    call_recorder.observe(
                        layer,
                        keras_compat.BATCHNORM_MOMENTS,
                        lambda original, args, result, moments=moments: (
                            moments.append(result)
                        ),
                    )
                )
            yield

    def apply(self, applied):
        """One moving-statistics update from all recorded passes.

        Every pass has the same number of examples, so the joint mean is the
        mean of the pass means and the joint (biased) variance is the mean
        of the pass second moments minus the squared joint mean. Where
        `applied` is False (a skipped step) the statistics stay as they
        were before the step.
        """
        for layer in self.layers:
            recorded = self._moments[id(layer)]
            if not recorded:
                continue  # The layer was not called in training mode.
            means = tf.stack([m for m, _ in recorded])
            squares = tf.stack([v + tf.square(m) for m, v in recorded])
            replicas = distribute.num_replicas()
            mean, square = distribute.sum_across_replicas(
                [tf.reduce_mean(means, 0), tf.reduce_mean(squares, 0)]
            )
            mean, square = mean / replicas, square / replicas
            variance = tf.maximum(square - tf.square(mean), 0.0)
            start_mean, start_variance = self._start[id(layer)]
            momentum = layer.momentum
            for variable, start, batch in (
                (layer.moving_mean, start_mean, mean),
                (layer.moving_variance, start_variance, variance),
            ):
                updated = start * momentum + tf.cast(batch, start.dtype) * (
                    1.0 - momentum
                )
                variable.assign(tf.where(applied, updated, start))
