"""Per-domain losses of a joint-batch pass (ERM), `add_loss` terms included.

ERM takes one pass over the concatenated batch of all domains, so each
domain's logged loss must be recovered from that pass. The compiled loss
splits by rows. Activity regularizers split too: they are functions of a
layer's output, which `ActivityLosses` evaluates on each domain's rows
while the pass runs (normalized by the rows' count, as Keras normalizes
them by the batch size). Other `add_loss` terms are single numbers of the
whole pass and are charged to every domain. For the usual L1/L2 activity
regularizers the mean of the domain losses is then exactly the ERM loss.
"""

import contextlib

import tensorflow as tf

from keras_gs.model import call_recorder
from keras_gs.model import keras_compat
from keras_gs.utils import distribute


class ActivityLosses:
    """Evaluates activity regularizers on each domain's rows during a pass.

    The joint batch is `(batch, num_domains, ...)` flattened to `(batch *
    num_domains, ...)`, so domain k's rows are `k, k + K, k + 2K, ...`.

    Args:
        network: the model whose layers' activity regularizers are recorded.
        num_domains: int, K.
    """

    def __init__(self, network, num_domains):
        self.layers = [
            layer
            for layer in keras_compat.all_layers(network)
            if layer.activity_regularizer is not None
        ]
        self.num_domains = num_domains
        self.per_domain = []
        self.joint = []

    @contextlib.contextmanager
    def recording(self):
        self.per_domain = [[] for _ in range(self.num_domains)]
        self.joint = []
        with contextlib.ExitStack() as stack:
            for layer in self.layers:
                stack.enter_context(
                    call_recorder.observe(
                        layer, "activity_regularizer", self._record
                    )
                )
            yield self

    def domain_terms(self, joint_added_loss):
        """Each domain's share of the pass's `add_loss` total.

        Args:
            joint_added_loss: scalar, the sum of the pass's `add_loss` terms
                as Keras aggregates them.

        Returns:
            A list of K scalars.
        """
        other = joint_added_loss - _total(self.joint)
        return [_total(terms) + other for terms in self.per_domain]

    def _record(self, regularizer, args, value):
        (output,) = args
        self.joint.append(_per_row(value, output))
        shape = tf.concat([[-1, self.num_domains], tf.shape(output)[1:]], 0)
        grouped = tf.reshape(output, shape)
        for k in range(self.num_domains):
            rows = grouped[:, k]
            self.per_domain[k].append(_per_row(regularizer(rows), rows))


def _per_row(value, output):
    # Keras divides an activity regularizer's value by the batch size, and
    # under a strategy of R replicas every added loss by R (as the compiled
    # loss), which the loss trackers multiply back.
    value = tf.cast(value, tf.float32)
    rows = tf.cast(tf.shape(output)[0], tf.float32)
    return tf.math.divide_no_nan(value, rows) / distribute.num_replicas()


def _total(terms):
    return tf.add_n(terms) if terms else tf.constant(0.0)
