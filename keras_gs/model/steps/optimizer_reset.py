"""`OptimizerReset`: an optimizer's state back to a fresh one's, in a step."""

import numpy as np
import tensorflow as tf

from keras_gs.model import keras_compat


class OptimizerReset:
    """Puts an optimizer's variables back to their values when it was built.

    DomainBed re-creates Adam when Fishr's penalty switches on. Here the
    optimizer's variables (Adam's moments, a loss scale...) get the values
    of a freshly built optimizer, recorded when this object is made, which
    must be right after the optimizer's `build` (as `FishrStep.build` is).
    Its step count is kept: it is the run's step (resume, seeds, learning
    rate schedules, the anneal itself). The bias correction restarts as a
    new Adam's would: updates applied within `restarted_count()` count
    their steps from `at_step` (see
    `keras_compat.step_count_restarted_at`). The reset happens at the
    first applied step whose count is `at_step` (a skipped step does not
    advance the count), so the count since the reset is a function of the
    step count alone and nothing more is saved.

    Constant-filled values (zeros, Adagrad's initial accumulator) are kept
    as one number each, not as arrays in the traced step.

    Args:
        optimizer: a built Keras optimizer at its initial state.
        at_step: int, the step count at which it is reset.
    """

    def __init__(self, optimizer, at_step):
        self.optimizer = optimizer
        self.at_step = at_step
        self._values = []
        for variable in optimizer.variables:
            if variable is optimizer.iterations:
                continue
            value = np.asarray(variable.numpy())
            flat = value.reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                value = flat[0]
            self._values.append((variable, value))

    @classmethod
    def none(cls, optimizer):
        """A reset that never resets (no variable to restore)."""
        reset = cls.__new__(cls)
        reset.optimizer = optimizer
        reset.at_step = None
        reset._values = []
        return reset

    def __call__(self, condition):
        """Resets where `condition` (a scalar bool, the same on every
        replica); each replica writes its own copy."""
        for variable, value in self._values:
            fresh = tf.broadcast_to(
                tf.constant(value, variable.dtype), variable.shape
            )
            variable.assign(tf.where(condition, fresh, variable.value))

    def restarted_count(self):
        """A context in which `optimizer.apply` counts from the reset."""
        return keras_compat.step_count_restarted_at(self.optimizer, self.at_step)
