"""A metric that counts steps, exact under tf.distribute."""

import keras


class StepCount(keras.metrics.Metric):
    """Counts the steps for which `update_state(True)` was called.

    Every replica makes the same call (the decision is taken on all-reduced
    gradients), so the count is read from the first replica rather than
    summed over all of them.
    """

    def __init__(self, name="step_count", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.count = self.add_variable(
            shape=(),
            initializer="zeros",
            dtype=self.dtype,
            aggregation="only_first_replica",
            name="count",
        )

    def update_state(self, counted):
        self.count.assign_add(keras.ops.cast(counted, self.dtype))

    def result(self):
        return keras.ops.convert_to_tensor(self.count)

    def reset_state(self):
        self.count.assign(0.0)
