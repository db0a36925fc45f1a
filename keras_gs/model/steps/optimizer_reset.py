"""`OptimizerReset`: an optimizer's state back to a fresh one's, in a step."""

import numpy as np
import tensorflow as tf


class OptimizerReset:
    """Puts an optimizer's variables back to their values when it was built.

    DomainBed re-creates Adam when Fishr's penalty switches on. Here the
    optimizer's variables (Adam's moments, a loss scale...) get the values
    of a freshly built optimizer, recorded when this object is made, which
    must be right after the optimizer's `build` (as `FishrStep.build` is).
    Its step count is kept: it is the run's step (resume, seeds, the
    anneal itself). So Adam's bias correction goes on from the step count
    instead of restarting, and the steps after the reset are larger than a
    new Adam's: with the default betas, (1 - 0.9^n) / sqrt(1 - 0.999^n)
    times, n steps after it: 3.2x at the first, 6.5x at the tenth, 3.2x at
    the hundredth, 1.3x at the thousandth.

    Constant-filled values (zeros, Adagrad's initial accumulator) are kept
    as one number each, not as arrays in the traced step.

    Args:
        optimizer: a built Keras optimizer at its initial state.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
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
