"""`LayerStatistics`: per-layer conflict measures, computed in the step.

`keras_gs.callbacks.ConflictMonitor` attaches one to a `GradSurgeryModel`
(`attach_layer_monitor`); the step computes the measures of
`keras_gs.conflicts.layer_measures` from the global domain gradients on
the steps it logs and stores them in its variables, which the callback
reads after the step.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_gs.conflicts import layer_groups
from keras_gs.conflicts import layer_measures


class LayerStatistics:
    """The per-layer measures of the last logged step, as variables.

    The training step writes them (only on the steps that log, where they
    are computed); the callback reads them after the step. The values are
    computed from the global gradients, the same on every replica, so the
    variables keep the first replica's.
    """

    def __init__(self, model, every):
        self.every = every
        # The network's variables are the model's, in the same order.
        self.groups = layer_groups.layer_groups(model.network)
        self.names = [group.name for group in self.groups]
        layers, domains = len(self.groups), model.num_domains
        shapes = {
            "agreement": (layers,),
            "cosine": (layers,),
            "replaced": (layers,),
            "norms": (layers, domains),
            "histogram": (layers, domains + 1),
        }
        with model.distribute_strategy.scope():
            self.values = {
                key: _variable(np.zeros(shape, "float32"), key)
                for key, shape in shapes.items()
            }
            self.step = _variable(np.array(-1, "int64"), "logged_step")

    def compute(self, domain_grads, surgery, step):
        """The measures on logged steps, zeros elsewhere (no work)."""
        zeros = {k: tf.zeros(v.shape, v.dtype) for k, v in self.values.items()}
        return tf.cond(
            tf.equal(step % self.every, 0),
            lambda: layer_measures.layer_statistics(
                domain_grads, surgery.replaced_masks(domain_grads), self.groups
            ),
            lambda: zeros,
        )

    def record(self, values, step):
        logged = tf.equal(step % self.every, 0)
        for key, variable in self.values.items():
            variable.assign(tf.where(logged, values[key], variable))
        self.step.assign(tf.where(logged, tf.cast(step, tf.int64), self.step))


def _variable(value, name):
    return keras.Variable(
        value,
        trainable=False,
        aggregation="only_first_replica",
        name=f"conflict_monitor_{name}",
    )
