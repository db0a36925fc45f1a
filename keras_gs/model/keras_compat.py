"""Every place keras_gs relies on Keras internals or works around Keras.

`GradSurgeryModel` overrides Keras's training step, which Keras's public
API does not fully expose; each private read and each workaround for an
upstream bug is here, with the Keras issue where there is one and the
version it was checked against (Keras 3.15.1, TensorFlow 2.21). When
Keras changes, this is the one file to read; the tests of `keras_gs.model`
fail if a private member moves.
"""

import contextlib
import warnings

import keras
import tensorflow as tf
from keras import tree

from keras_gs.utils import distribute

CHECKED_AGAINST = "keras 3.15.1"

# BatchNormalization's method that computes a batch's mean and variance in
# training mode (private, Keras 3.15); `JointStatistics` observes its calls.
BATCHNORM_MOMENTS = "_moments"


# -- private reads -------------------------------------------------------------


def compiled_loss(model):
    """The loss `compile(loss=...)` built, or None (`Trainer._compile_loss`)."""
    return model._compile_loss


def aggregate_additional_loss(model, loss):
    """An `add_loss` term as Keras adds it to the step's loss: cast and
    divided by the number of replicas (`Trainer._aggregate_additional_loss`)."""
    return model._aggregate_additional_loss(loss)


def loss_tracker(model):
    """Keras's `loss` metric of the model (`Trainer._loss_tracker`)."""
    return model._loss_tracker


def all_layers(layer):
    """`layer` and every layer nested in it (`Layer._flatten_layers`)."""
    return layer._flatten_layers()


def build_compiled_metrics(model, x, y):
    """Creates the compiled metrics' variables now, from a batch's shapes.

    Keras creates them when `fit` (or `evaluate`) starts
    (`Trainer._symbolic_build`, which computes shapes only); a run that
    restores their accumulators needs them before. `x`, `y`: one ordinary
    batch (without the domain axis).
    """
    model._symbolic_build(data_batch=(x, y, None))


@contextlib.contextmanager
def step_count_restarted_at(optimizer, at_step):
    """Inside the block, `optimizer` counts its own steps from `at_step`.

    Keras's Adam (and Adamax, Nadam, Adafactor, Lamb...) compute their bias
    correction in `update_step` from the public `iterations` property, as
    a freshly built optimizer's would be once it has taken
    `iterations - at_step` steps; where `iterations < at_step` it is
    unchanged. The counter itself (`_iterations`: what `apply` increments,
    what a learning-rate schedule reads, what the run's seeds and anneals
    use) is not touched. The property is a class attribute, so the
    optimizer's class is swapped for a subclass overriding it while
    `optimizer.apply` is traced in the block (Python only: no variable,
    nothing saved). A `LossScaleOptimizer`'s inner optimizer is the one
    that counts.

    Args:
        optimizer: a Keras optimizer.
        at_step: int, the step count from which a fresh optimizer would
            have counted; `None` leaves the count as it is.
    """
    if at_step is None:
        yield
        return
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    original = type(inner)
    counts = original.iterations.fget

    def iterations(self):
        step = tf.convert_to_tensor(counts(self))
        at = tf.constant(at_step, step.dtype)
        return tf.where(step >= at, step - at, step)

    restarted = type(
        original.__name__, (original,), {"iterations": property(iterations)}
    )
    # Keras's `__setattr__` tracks values; the class is not one to track.
    object.__setattr__(inner, "__class__", restarted)
    try:
        yield
    finally:
        object.__setattr__(inner, "__class__", original)


# -- workarounds ---------------------------------------------------------------


def one_step_per_execution(model, steps_per_execution):
    """The steps per execution `fit` can run under the model's strategy.

    Keras runs several steps in a `tf.while_loop`, and a `tf.cond` in the
    cross-replica context inside it (the step's skip of non-finite steps,
    as Keras's own LossScaleOptimizer) fails with "You must feed a value
    for placeholder tensor" when there are several replicas (Keras 3.15,
    plain Keras with mixed_float16 too). One step per execution is exact.
    """
    replicas = model.distribute_strategy.num_replicas_in_sync
    if isinstance(steps_per_execution, int) and steps_per_execution > 1 and (
        replicas > 1
    ):
        warnings.warn(
            f"GradSurgeryModel: steps_per_execution={steps_per_execution} "
            f"runs as 1 with {replicas} replicas (a Keras 3.15 limitation "
            "with a tf.cond in the cross-replica context inside its "
            "multi-step loop). Callbacks are called every step.",
            stacklevel=3,
        )
        return 1
    return steps_per_execution


def first_local_batch(model, iterator):
    """A batch to build the model from, under MultiWorkerMirroredStrategy.

    keras-team/keras#20585 (Keras 3.15): before the first step, Keras
    reduces the first distributed batch with `strategy.reduce("MEAN")`
    eagerly, which MultiWorkerMirroredStrategy refuses ("Attempt to
    convert a value (PerReplica ...) with an unsupported type"). Building
    needs only the batch's shapes: this worker's first replica's part.
    Returns None elsewhere (Keras's own path).
    """
    if iterator is None or not distribute.is_multi_worker(
        model.distribute_strategy
    ):
        return None
    strategy = model.distribute_strategy

    def first(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    for _, _, batches in iterator:
        return tree.map_structure(first, next(batches))
    return None


def logs_for_multi_worker_reduction(logs):
    """Gives the step's scalar logs a leading axis under several workers.

    keras-team/keras#20585 (Keras 3.15): under MultiWorkerMirroredStrategy
    Keras reduces each log with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on a scalar ("Invalid reduction dimension 0 for input with 0
    dimensions"). With shape (1,) the reduction is the mean over replicas,
    a scalar again, as on one worker. Elsewhere the logs are unchanged.
    """
    if not distribute.is_multi_worker():
        return logs
    return {
        k: tf.reshape(v, [1]) if v.shape.rank == 0 else v
        for k, v in logs.items()
    }


def check_callbacks(model, callbacks):
    """Refuses Keras's BackupAndRestore on a multi-worker job.

    Keras 3.15's `BackupAndRestore` has every worker write (and at the end
    delete) the same files; `keras_gs.callbacks.BackupAndRestore` has only
    the chief write them.
    """
    if not callbacks or not distribute.is_multi_worker(
        model.distribute_strategy
    ):
        return
    for callback in callbacks:
        if type(callback) is keras.callbacks.BackupAndRestore:
            raise ValueError(
                "keras.callbacks.BackupAndRestore has every worker of a "
                "MultiWorkerMirroredStrategy job write the same backup "
                "files. Use keras_gs.callbacks.BackupAndRestore (same "
                "arguments; only the chief writes). Received: "
                f"{callback!r}"
            )
