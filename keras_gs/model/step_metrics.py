"""`StepMetrics`: the training step's own metrics, held as one metric.

Keras reports a model's loss and compiled metrics; the surgery step adds
each domain's loss, the conflict measures and the count of skipped steps.
They are held in one `keras.metrics.Metric` whose result is a dict, as
Keras's `CompileMetrics` holds the compiled ones, so the model updates,
reports and resets them in one call, and `evaluate` can leave them out by
name.
"""

import warnings

import keras
import tensorflow as tf

from keras_gs.utils import distribute


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
        # A copy: `convert_to_tensor` of the variable is the variable
        # itself, which `fit` keeps in its epoch logs and the validation
        # `evaluate` then resets to 0 before callbacks and History read it.
        return tf.identity(self.count)

    def reset_state(self):
        self.count.assign(0.0)


class StepMetrics(keras.metrics.Metric):
    """`loss_<k>`, `agreement`, `cosine` and `skipped_steps` of a step.

    Epoch averages over the applied steps (a skipped step, whose gradients
    were not finite, changes none of them but `skipped_steps`); the
    conflict measures over the measured steps only.

    Args:
        num_domains: int, K.
        conflicts: bool, whether the step measures `agreement` and
            `cosine` (not with a single gradient).
        conflict_every: int, they are measured when `step %
            conflict_every == 0`.
        extras: tuple of str, names of further per-step values the step
            reports (a method's `penalty`), averaged over the applied
            steps. Defaults to `()`.
    """

    def __init__(
        self, num_domains, conflicts, conflict_every, extras=(), name="step"
    ):
        super().__init__(name=name)
        self.conflict_every = conflict_every
        self.domain_losses = [
            keras.metrics.Mean(name=f"loss_{k}") for k in range(num_domains)
        ]
        self.conflicts = (
            [keras.metrics.Mean(name="agreement"), keras.metrics.Mean(name="cosine")]
            if conflicts
            else []
        )
        self.skipped_steps = StepCount(name="skipped_steps")
        self.extras = [keras.metrics.Mean(name=name) for name in extras]
        self._parts = (
            self.domain_losses
            + self.conflicts
            + [self.skipped_steps]
            + self.extras
        )

    @property
    def names(self):
        return [m.name for m in self._parts]

    @property
    def variables(self):
        # The sub-metrics' own variables (Keras tracks none of them here).
        return [v for m in self._parts for v in m.variables]

    def update_state(
        self,
        loss_tracker,
        domain_losses,
        measures,
        applied,
        batch,
        step,
        extras=(),
    ):
        """Records one step.

        Args:
            loss_tracker: Keras's `loss` metric of the model: it gets the
                mean of the domain losses.
            domain_losses: K scalars, each domain's loss as Keras computed
                it (divided by the number of replicas).
            measures: `(agreement, cosine)`, or `()` without conflicts.
            applied: scalar bool, whether the step changed the weights.
            batch: scalar float, examples per domain (the average's weight).
            step: scalar int, the optimizer step of the update.
            extras: one scalar per name of `extras`, in that order.
        """
        weight = tf.cast(applied, tf.float32)

        def record(metric, value, sample_weight):
            # NaN * 0 is NaN: drop the value itself, not only its weight.
            value = tf.cast(value, tf.float32)
            metric.update_state(
                tf.where(applied, value, 0.0),
                sample_weight=sample_weight * weight,
            )

        # Keras divided each loss by R; record the loss itself.
        losses = [loss * distribute.num_replicas() for loss in domain_losses]
        record(loss_tracker, tf.add_n(losses) / len(losses), batch)
        for metric, loss in zip(self.domain_losses, losses):
            record(metric, loss, batch)
        measured = tf.cast(tf.equal(step % self.conflict_every, 0), tf.float32)
        for metric, value in zip(self.conflicts, measures):
            record(metric, value, measured)
        self.skipped_steps.update_state(tf.logical_not(applied))
        for metric, value in zip(self.extras, extras):
            record(metric, value, 1.0)

    def result(self):
        return {m.name: m.result() for m in self._parts}

    def reset_state(self):
        for metric in self._parts:
            metric.reset_state()


def nan_if_every_step_skipped(results, step_metrics, loss_tracker):
    """`results` (the model's metric results) with NaN for every value but
    `skipped_steps` when every step since the last reset was skipped.

    Each metric then holds no step at all, and a Keras mean reads 0.0: a
    perfect loss and a null accuracy for an epoch that did not train.
    Whether any step was applied is read from the loss tracker's weight
    (every applied step adds its batch size), so nothing is added to what
    a checkpoint holds. Warns once when it happens (eagerly: at an
    epoch's end).
    """
    skipped = step_metrics.skipped_steps.result()
    every = tf.logical_and(
        skipped > 0, tf.equal(tf.convert_to_tensor(loss_tracker.count), 0.0)
    )
    if tf.executing_eagerly() and bool(every):
        warnings.warn(
            "GradSurgeryModel: every step since the metrics were reset "
            "was skipped (their gradients were not finite: NaN "
            "or infinite inputs, or a diverged model); the loss and every "
            "metric are NaN, not the 0.0 of an empty mean.",
            stacklevel=2,
        )
    nan = float("nan")
    return {
        name: value
        if name == step_metrics.skipped_steps.name
        else tf.where(every, tf.cast(nan, value.dtype), value)
        for name, value in results.items()
    }
