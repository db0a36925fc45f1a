"""The contract of a training step, and the layer that holds its state."""

import collections

import keras
import tensorflow as tf

StepContext = collections.namedtuple(
    "StepContext",
    [
        "model",
        "network",
        "optimizer",
        "num_domains",
        "coupled_l2",
        "batchnorm_update",
        "seed",
        "surgery",
        "streaming",
        "measure_conflicts",
        "conflict_every",
        "jit_surgery",
        "layer_monitor",
        "surgery_state",
        "warmup_steps",
    ],
)
StepContext.__doc__ = """What a step rule reads of the model, made at each trace.

Fields:
    model: the Keras model, for its passes only (its call, compiled loss
        and `losses`: `keras_gs.model.passes`, `regularization`).
    network, optimizer, num_domains, coupled_l2, batchnorm_update, seed,
    surgery, streaming, conflict_every, jit_surgery, warmup_steps: the
        `GradSurgeryModel` arguments of these names (`optimizer`: the
        compiled one).
    measure_conflicts: bool, whether the step reports `agreement` and
        `cosine` (`StepMetrics.conflicts`).
    layer_monitor: the attached `LayerStatistics`, or None.
    surgery_state: the model's `SurgeryState`, or None.
"""


def step_seed(seed, step):
    """The seed of a step's random draws: the same on every replica, new
    each step, reproducible from the model's `seed`."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])


StepOutcome = collections.namedtuple(
    "StepOutcome", ["losses", "y_pred", "applied", "measures", "extras"]
)
StepOutcome.__doc__ = """What a step rule hands back to `train_step`.

Fields:
    losses: K scalars, each domain's loss as Keras computed it (divided by
        the number of replicas).
    y_pred: K predictions, for the compiled metrics.
    applied: scalar bool, whether the step changed the weights (False: its
        gradients were not finite; it is counted in `skipped_steps`).
    measures: `(agreement, cosine)`, or `()` for a rule that measures no
        conflicts.
    extras: one scalar per name of the rule's `logs`.
"""


class StepRule:
    """How `GradSurgeryModel.train_step` turns a batch into an update.

    `train_step` unpacks the batch, calls the rule's `step`, and records
    what it returns (`StepOutcome`) in the model's trackers; everything in
    between (the passes, the cross-replica sums, the update, the optimizer)
    is the rule's. The surgeries' rule is `SurgeryStep`; DomainBed's
    methods that change the step (Fish, Fishr, IGA) have their own.

    A rule must be exact under `tf.distribute` (METHOD.md §5): each
    replica sees B/R examples of every domain, Keras divides each loss by
    R, and the optimizer sums what each replica applies; the rule's update
    is the one device's on the global batch.

    Subclasses override:
    - `step(context, x, y, sample_weight, step)` -> `StepOutcome`
      (`context`: a `StepContext`);
    - `build(model, state)` if the rule keeps variables across steps: it
      creates them in `state` (a `StepState`, tracked by the model, so
      that they are in `model.variables`, `.keras` files and backups);
      `ensure_built` calls it once, eagerly, under the model's strategy.

    Class attributes:
    - `measures_conflicts`: whether it reports `agreement` and `cosine`
      (and `ConflictMonitor` can read its domain gradients).
    - `logs`: names of the further per-step values it reports.
    - `has_state`: whether it needs a `StepState`.

    `forget_trace` drops what a rule built from one trace's context (the
    surgeries' combiner), so that the next trace builds it anew.
    """

    measures_conflicts = False
    logs = ()
    has_state = False

    def __init__(self):
        self.built = not self.has_state

    def step(self, context, x, y, sample_weight, step):
        """One training step on a batch with the domain axis.

        Args:
            context: a `StepContext`.
            x, y, sample_weight: the batch, `(batch, num_domains, ...)`.
            step: scalar int, the optimizer's step count before the step.

        Returns:
            A `StepOutcome`.
        """
        raise NotImplementedError

    def forget_trace(self):
        """Drops what was built from a trace's context (see the class)."""

    def build(self, model, state):
        """Creates the rule's variables in `state` (see the class doc)."""
        del model, state

    def ready(self, model):
        """Whether `build` can run: network built, K and optimizer known."""
        return (
            model.network.built
            and model.num_domains is not None
            and getattr(model, "optimizer", None) is not None
        )

    def ensure_built(self, model):
        """Builds the state once, eagerly, under the model's strategy.

        Called before training (Keras's symbolic build), after compiling a
        loaded model (so that its state can be loaded into), and inside the
        step as the fallback of a network built by its first call.
        """
        if not self.ready(model) or self.built:
            return
        with tf.init_scope(), model.distribute_strategy.scope():
            self.build(model, model.step_state)
        self.built = True


class StepState(keras.layers.Layer):
    """The variables a step rule keeps across steps.

    A layer of the model without weights of its own to train: its
    variables are in `model.variables` (hence in backups), and `.keras`
    files save and load them with the model. `add_state` creates one;
    `hold` makes variables created elsewhere (an optimizer's) its own.
    """

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)
        # Nothing to build from inputs: it is never called.
        self.built = True

    def add_state(self, name, shape, dtype="float32", initializer="zeros"):
        """A new non-trainable variable of this layer."""
        return self.add_weight(
            shape=shape,
            dtype=dtype,
            initializer=initializer,
            trainable=False,
            autocast=False,
            name=name,
        )

    def hold(self, name, variables):
        """Tracks `variables` as this layer's own, under attribute `name`."""
        # Keras tracks the variables of a list assigned to a layer's
        # attribute as the layer's (non-trainable) variables.
        setattr(self, name, list(variables))
        return getattr(self, name)
