"""`SurgeryState`: what a surgery carries from step to step, as variables.

A stateful rule (GradVac's cosine targets, Nash-MTL's warm start) is a
pure function of the step's Gram matrices and of its state, returning the
new state (`keras_gs.surgery.Surgery.initial_state`). The model keeps that
state in non-trainable variables it tracks, so that `model.variables`,
`.keras` files and the experiment's resume backups hold it. They are
created under the model's strategy with `only_first_replica`
aggregation: every replica computes the same new state from the same
global gradients, and the first replica's value is written to all.
A step whose gradients are not finite is skipped, and leaves the state
as it was.
"""

import keras
import tensorflow as tf

from keras_gs.conflicts import layer_groups
from keras_gs.surgery import GramWeighting


class SurgeryState:
    """A surgery's parameter groups and state variables, for one model.

    Args:
        surgery: the `keras_gs.surgery.Surgery`.
        num_domains: int, K.
        network: the built network (its trainable variables, in the model's
            order, and its layers).
        strategy: the model's `tf.distribute.Strategy`.
    """

    def __init__(self, surgery, num_domains, network, strategy):
        self.groups = None
        if isinstance(surgery, GramWeighting):
            num_variables = len(network.trainable_variables)
            self.groups = surgery.parameter_groups(
                num_variables, _layers(network)
            )
        self._initial = surgery.initial_state(
            num_domains, 1 if self.groups is None else len(self.groups)
        )
        with strategy.scope():
            self.variables = {
                key: keras.Variable(
                    value,
                    trainable=False,
                    aggregation="only_first_replica",
                    name=f"surgery_{key}",
                )
                for key, value in self._initial.items()
            }

    def read(self):
        """The state as a dict of tensors."""
        return {key: v.value for key, v in self.variables.items()}

    def write(self, state, applied):
        """Keeps `state` (dict of tensors) where `applied`, else the old."""
        for key, variable in self.variables.items():
            new = tf.cast(state[key], variable.dtype)
            variable.assign(tf.where(applied, new, variable.value))

    def reset(self):
        """Puts the state back to its initial value."""
        for key, variable in self.variables.items():
            variable.assign(self._initial[key])


def _layers(network):
    # The layers are only needed by rules that weigh layers separately;
    # a network without trainable variables has none.
    if not network.trainable_variables:
        return []
    return layer_groups.layer_groups(network)
