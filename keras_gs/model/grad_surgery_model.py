"""`GradSurgeryModel`: a Keras model trained with one gradient per domain."""

import contextlib
import random

import keras
import tensorflow as tf

from keras_gs import surgery as surgery_lib
from keras_gs.model import batchnorm_statistics
from keras_gs.model import domain_axis
from keras_gs.model import keras_compat
from keras_gs.model import steps
from keras_gs.model import step_metrics as step_metrics_lib
from keras_gs.model.step_metrics import StepMetrics
from keras_gs.model.surgery_state import SurgeryState
from keras_gs.utils.choices import check_choice


@keras.saving.register_keras_serializable(package="keras_gs")
class GradSurgeryModel(keras.Model):
    """Trains `network` with a gradient surgery across source domains.

    Each training step runs one forward and backward pass per source domain
    (one `tf.GradientTape` each), sums each domain's gradient across
    replicas, combines the domain gradients with `surgery`, and applies the
    result. Everything else is an ordinary Keras model: `compile`, `fit`,
    `evaluate`, `predict`, `save` and `keras.saving.load_model` work as
    usual (a reloaded model is compiled and keeps its optimizer state), and
    `evaluate`/`predict` take ordinary batches.

    Training batches are `(x, y)` with `x` of shape `(batch, num_domains,
    ...)` and `y` of shape `(batch, num_domains, ...)`; the batch axis comes
    first so that `tf.distribute` shards examples, not domains.
    `keras_gs.data.zip_domains` builds such a dataset.

    `fit` reports, as epoch averages over the applied steps: `loss` (mean
    of the domain losses), the compiled metrics over all domains, `loss_<k>`
    for each domain k, `agreement` (share of parameters whose gradient sign
    every domain agrees on) and `cosine` (mean pairwise cosine similarity of
    the domain gradients); `skipped_steps` counts the steps whose gradients
    were not finite, which are skipped with weights and optimizer state
    unchanged. With `erm` there is one gradient, so no `agreement` and
    `cosine`.

    `surgery` may also name one of DomainBed's gradient-matching methods,
    which change the step itself rather than combine K gradients at one
    point: `"fish"`, `"fishr"`, `"iga"` (`keras_gs.surgery.Fish`, `Fishr`,
    `IGA`; their steps are in `keras_gs.model.steps`). Everything else
    (data layout, `tf.distribute`, saving, the protocol) is the same; they
    log no `agreement` and `cosine`, Fishr and IGA log their `penalty`,
    and their state (Fish's inner optimizer, Fishr's moving averages) is
    in `step_variables`, saved and backed up with the model.

    Regularization: weight regularizers (e.g. `kernel_regularizer`) and
    `coupled_l2` are added to the update after the surgery, once per step,
    never masked, as in the paper's code. Losses added with `add_loss`
    during the forward pass belong to their domain's loss. Keras's decoupled
    weight decay (`keras.optimizers.AdamW`, `weight_decay=`) works as usual.

    With `erm`, `loss_<k>` is domain k's share of the joint pass: the
    compiled loss on its rows plus its activity-regularizer terms (other
    `add_loss` terms, single numbers of the whole pass, count for every
    domain), the same quantity the per-domain surgeries log.

    BatchNorm: inside each domain's pass, BatchNormalization normalizes with
    that domain's batch statistics. The moving statistics are updated
    according to `batchnorm_update`:
    - `"joint"`: once per step, from the mean and variance of all domains'
      examples together: the moving statistics `erm` keeps on the
      concatenated batch, independent of the order of the domains. Under
      `tf.distribute` the statistics are those of the global batch, so
      every replica holds the same moving statistics as one device would.
      A skipped step leaves them unchanged.
    - `"per_domain"`: once per domain per step, each from one domain's
      batch (momentum m^K per step; the last domain weighs most). Under
      `tf.distribute` each replica updates its own copy from its own part
      of the batch, as Keras does.
    Fish ignores `batchnorm_update`: as in DomainBed, each inner step
    updates the statistics from its domain's batch, and the meta update
    interpolates them with the weights.
    `freeze_batchnorm=True` keeps every BatchNormalization layer in
    inference mode by setting its `trainable` to False (Keras's fine-tuning
    convention: gamma and beta freeze too). Batch statistics inside a pass
    are per replica unless the layers are built with `synchronized=True`.

    Under `MultiWorkerMirroredStrategy`, back up with
    `keras_gs.callbacks.BackupAndRestore` (only the chief writes);
    `keras.callbacks.BackupAndRestore` is refused there.

    Args:
        network: a `keras.Model` or layer mapping inputs to predictions.
            An unbuilt one is built from the first training batch.
        surgery: a name from `keras_gs.surgery.names()` (the surgeries and
            `fish`, `fishr`, `iga`) or a `keras_gs.surgery.Surgery`.
            Defaults to `"agr-sum"`.
        num_domains: int or None, the number of source domains. Inferred
            from the training data by `fit` when None. Defaults to `None`.
        coupled_l2: float, coefficient of an L2 term whose gradient
            `coupled_l2 * w` is added after the surgery (the paper's code
            uses 5e-5 with Adam). Defaults to `0.0`.
        freeze_batchnorm: bool, keep BatchNormalization layers in inference
            mode. Defaults to `False`.
        batchnorm_update: str, how BatchNormalization moving statistics are
            updated: `"joint"` (once per step from all domains' examples)
            or `"per_domain"` (once per domain pass). Defaults to
            `"joint"`.
        seed: int or None, seed of the surgery's random draws (Agr-Rand
            noise, PCGrad and GradVac orders, GradDrop's uniforms);
            combined with the optimizer step, so draws are the same on
            every replica and reproducible. Drawn at
            random and recorded in the config when None. Defaults to `None`.
        conflict_every: int, measure `agreement` and `cosine` every this
            many steps (their epoch averages are over the measured steps);
            the other steps skip that work. Defaults to `1`.
        jit_surgery: bool, compile the surgery and the sign agreement with
            XLA where the surgery allows it (`Surgery.jit_compile`), while
            the network's passes keep the model's own setting and the
            whole-network reductions (finite check, cosine) stay on
            TensorFlow's kernels. On CPU this fuses the element-wise work
            (see `keras_gs.model.combiner`). `"auto"`, what files saved
            before it was two-valued hold, reads as True. Defaults to
            `True`.
        warmup_steps: int, train with Deep-All's gradient, the mean of
            the domain gradients (METHOD.md §2), for this many steps
            (counted by the optimizer), then with `surgery`, as DomainBed
            anneals IRM, VREx and Fishr. The passes are the same (one per
            domain); the surgery's state (GradVac's targets, Nash-MTL's
            warm start) starts when the surgery does. Surgeries only: Fish
            and IGA have no warm-up, and Fishr has its own
            (`penalty_anneal_iters`). Defaults to `0`.
        streaming: bool, fold each domain's gradient into the surgery's
            running sums as soon as its pass ends, so the memory the
            surgery adds does not grow with the number of domains (sum,
            mean, agr-sum, and-mask; same results). Under `tf.distribute`
            each domain's gradient is all-reduced as it comes. Defaults to
            `False`.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    ```python
    network = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    model = keras_gs.GradSurgeryModel(network, surgery="agr-sum")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(keras_gs.data.zip_domains(domains, batch_size=32),
              steps_per_epoch=100, epochs=3)
    ```

    Reference: [Domain Generalization via Gradient Surgery](
    https://arxiv.org/abs/2108.01621), ICCV 2021.
    """

    def __init__(
        self,
        network,
        surgery="agr-sum",
        num_domains=None,
        coupled_l2=0.0,
        freeze_batchnorm=False,
        batchnorm_update="joint",
        seed=None,
        conflict_every=1,
        jit_surgery=True,
        streaming=False,
        warmup_steps=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(network, keras.layers.Layer):
            raise ValueError(
                "GradSurgeryModel: `network` must be a keras.Model or layer. "
                f"Received: network={network!r}"
            )
        _check_at_least(num_domains, 1, "num_domains", allow_none=True)
        _check_at_least(coupled_l2, 0, "coupled_l2")
        _check_at_least(conflict_every, 1, "conflict_every")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int):
            raise ValueError(
                "GradSurgeryModel: `warmup_steps` must be an integer >= 0. "
                f"Received: warmup_steps={warmup_steps!r}"
            )
        _check_at_least(warmup_steps, 0, "warmup_steps")
        if isinstance(jit_surgery, str) and jit_surgery == "auto":
            # What `.keras` files saved before it was two-valued hold; it
            # always meant True.
            jit_surgery = True
        check_choice(jit_surgery, (True, False), "jit_surgery", "jit_surgery")
        self.network = network
        self.surgery = surgery_lib.get(surgery)
        self.coupled_l2 = float(coupled_l2)
        self.freeze_batchnorm = bool(freeze_batchnorm)
        self.batchnorm_update = check_choice(
            batchnorm_update,
            batchnorm_statistics.BATCHNORM_UPDATES,
            "batchnorm_update",
            "BatchNorm update",
        )
        self.seed = int(seed) if seed is not None else random.randrange(2**31)
        self.conflict_every = int(conflict_every)
        self.jit_surgery = bool(jit_surgery)
        self.streaming = bool(streaming)
        self.warmup_steps = int(warmup_steps)
        if self.warmup_steps and self.surgery.step_method:
            raise ValueError(
                f"GradSurgeryModel: `warmup_steps` is for the surgeries, "
                f"which combine K domain gradients; {self.surgery.name!r} "
                f"changes the step itself (Fishr's warm-up is its "
                f"`penalty_anneal_iters`). Received: "
                f"warmup_steps={warmup_steps}, surgery={self.surgery.name!r}"
            )
        if self.streaming and not self.surgery.streams:
            raise ValueError(
                f"GradSurgeryModel: surgery {self.surgery.name!r} cannot "
                f"stream (it needs every domain gradient at once). Received: "
                f"streaming=True. Surgeries that stream: "
                f"{surgery_lib.names(streams=True)}"
            )
        self.num_domains = None
        self.step_metrics = None
        self.surgery_state = None
        self._step_rule = steps.for_surgery(self.surgery)
        # The step's variables (Fish's inner optimizer, Fishr's moving
        # averages): a layer of the model, so saved and backed up with it.
        self.step_state = (
            steps.StepState(name="step_state")
            if self._step_rule.has_state
            else None
        )
        self._layer_monitor = None
        self._domain_batches = False
        if self.freeze_batchnorm:
            for layer in keras_compat.all_layers(network):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        if num_domains is not None:
            self._set_num_domains(int(num_domains))
        if network.built:
            self.built = True

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, y, sample_weight = domain_axis.split(x, y, sample_weight, self.num_domains)
        # A snapshot: the optimizer increments its counter during the step.
        step = tf.identity(self.optimizer.iterations)
        # The passes, the combination and the update (`steps.SurgeryStep`
        # for the surgeries; Fish, Fishr and IGA have steps of their own).
        outcome = self._step_rule.step(
            self._step_context(), x, y, sample_weight, step
        )
        self.step_metrics.update_state(
            keras_compat.loss_tracker(self),
            outcome.losses,
            outcome.measures,
            outcome.applied,
            domain_axis.batch_size(x),
            step,
            outcome.extras,
        )
        logs = self._compute_metrics_if(
            outcome.applied, x, y, outcome.y_pred, sample_weight
        )
        return keras_compat.logs_for_multi_worker_reduction(logs)

    def get_metrics_result(self):
        results = super().get_metrics_result()
        if self.step_metrics is None:
            return results
        # An epoch whose every step was skipped has no loss, not 0.0.
        return step_metrics_lib.nan_if_every_step_skipped(
            results, self.step_metrics, keras_compat.loss_tracker(self)
        )

    def test_step(self, data):
        logs = super().test_step(data)
        train_only = self.step_metrics.names if self.step_metrics else ()
        return keras_compat.logs_for_multi_worker_reduction(
            {k: v for k, v in logs.items() if k not in train_only}
        )

    def attach_layer_monitor(self, monitor):
        """Computes per-layer conflict measures for `monitor` (or stops).

        Called by `keras_gs.callbacks.ConflictMonitor` with a
        `keras_gs.model.LayerStatistics`; the next `fit` traces its step
        anew.
        """
        if monitor is not None and self.surgery.step_method:
            raise ValueError(
                f"ConflictMonitor compares domain gradients taken at one "
                f"point; {self.surgery.name!r} takes none (or one). "
                f"Received: surgery={self.surgery.name!r}"
            )
        if monitor is not None and self.streaming:
            raise ValueError(
                "ConflictMonitor needs every domain's gradient at once; "
                "this model streams them. Received: streaming=True. Use "
                "streaming=False to monitor conflicts per layer."
            )
        self._layer_monitor = monitor
        # The surgery step's combiner holds the monitor: a new one, traced.
        self._step_rule.forget_trace()
        self.train_function = None

    @property
    def layer_monitor(self):
        return self._layer_monitor

    @property
    def measures_conflicts(self):
        """Whether the step compares domain gradients taken at one point
        (`agreement`, `cosine`, `ConflictMonitor`): not `erm`, Fish,
        Fishr or IGA."""
        return self._step_rule.measures_conflicts

    @property
    def step_variables(self):
        """The variables the training step keeps across steps besides the
        network's and the optimizer's (Fish's inner optimizer, Fishr's
        moving averages); empty for the surgeries."""
        return [] if self.step_state is None else list(self.step_state.variables)

    # -- fit ----------------------------------------------------------------

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        if kwargs.get("validation_split"):
            raise ValueError(
                "GradSurgeryModel.fit cannot split domain-axis batches for "
                f"validation. Received: validation_split="
                f"{kwargs['validation_split']}. Pass validation_data=(x, y) "
                "with ordinary batches instead (e.g. the `val` split of "
                "keras_gs.data.load)."
            )
        self._prepare_for_training(x, y)
        keras_compat.check_callbacks(self, callbacks)
        self.steps_per_execution = keras_compat.one_step_per_execution(
            self, self.steps_per_execution
        )
        with self._domain_axis_batches():
            return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._prepare_for_training(x, y)
        with self._domain_axis_batches():
            return super().train_on_batch(x, y, *args, **kwargs)

    def _prepare_for_training(self, x, y):
        """Learns the domain count from the data and creates the metrics."""
        found = domain_axis.count(x, y)
        if found is not None and self.num_domains not in (None, found):
            raise ValueError(
                f"The training data has {found} domains (axis 1), but the "
                f"model was built for num_domains={self.num_domains}. "
                + domain_axis.HELP
            )
        if self.num_domains is None:
            if found is None:
                raise ValueError(
                    "GradSurgeryModel could not read the number of domains "
                    "from the training data; pass `num_domains=` to the "
                    "constructor. " + domain_axis.HELP
                )
            self._set_num_domains(found)
        if not self.network.built:
            self._build_network(domain_axis.example_shape(x))

    def _build_network(self, example_shape):
        """Builds a network given without `keras.Input` from the data."""
        try:
            if example_shape is None:
                raise ValueError("the data's example shape is unknown")
            self.network.build((None, *example_shape))
        except Exception as error:
            raise ValueError(
                f"GradSurgeryModel could not build the network "
                f"{self.network.name!r} from the training data ({error}). "
                "Give it an input: start it with keras.Input(shape)."
            ) from None
        self.built = True

    def _set_num_domains(self, num_domains):
        self.num_domains = num_domains
        with self.distribute_strategy.scope():
            self.step_metrics = StepMetrics(
                num_domains,
                conflicts=self._step_rule.measures_conflicts,
                conflict_every=self.conflict_every,
                extras=self._step_rule.logs,
            )
        self._build_surgery_state()

    def _build_surgery_state(self):
        """The surgery's state variables (GradVac, Nash-MTL), once K is
        known and the network built (the state may be per layer)."""
        if self.surgery_state is not None or not self.network.built:
            return
        self.surgery_state = SurgeryState(
            self.surgery,
            self.num_domains,
            self.network,
            self.distribute_strategy,
        )
        # Tracked by the model: in `model.variables`, `.keras` files and
        # the experiment's backups.
        self._surgery_variables = list(self.surgery_state.variables.values())

    def reset_surgery_state(self):
        """Puts the surgery's state back to its value before any step."""
        if self.surgery_state is not None:
            self.surgery_state.reset()

    @contextlib.contextmanager
    def _domain_axis_batches(self):
        self._domain_batches = True
        try:
            yield
        finally:
            self._domain_batches = False

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        batch = keras_compat.first_local_batch(self, iterator)
        if batch is not None:
            iterator, data_batch = None, batch
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        # Keras builds nothing here without a strategy; the step's
        # variables are needed before the first step (backups, resets).
        self._step_rule.ensure_built(self)

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds losses and metrics from one batch before the first
        # step (METHOD.md §5); training batches carry a domain axis the
        # network does not take, so build from domain 0's slice.
        if self._domain_batches and data_batch is not None:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data_batch)
            data_batch = tuple(
                domain_axis.domain(t, 0)
                for t in domain_axis.split(x, y, sample_weight, self.num_domains)
            )
        super()._symbolic_build(iterator=iterator, data_batch=data_batch)
        if self.num_domains is not None:
            # A network built just now, from the first batch.
            self._build_surgery_state()
        self._step_rule.ensure_built(self)

    def compile_from_config(self, config):
        # A loaded model: its step's variables exist before Keras loads
        # their values.
        super().compile_from_config(config)
        self._step_rule.ensure_built(self)

    # -- the step's parts -----------------------------------------------------

    def _step_context(self):
        """What the step rule reads of the model (`steps.StepContext`)."""
        return steps.StepContext(
            model=self,
            measure_conflicts=bool(self.step_metrics.conflicts),
            layer_monitor=self._layer_monitor,
            **{name: getattr(self, name) for name in _CONTEXT_ATTRIBUTES},
        )

    def _compute_metrics_if(self, applied, x, y, y_pred, sample_weight):
        """The compiled metrics, updated only on applied steps.

        Like the loss, they are epoch averages over the steps that changed
        the weights. (Metrics compiled without `weighted_metrics` ignore
        sample weights, so the step must be left out, not weighted by 0.)
        """
        num_domains = len(y_pred)
        y = domain_axis.concat([domain_axis.domain(y, k) for k in range(num_domains)])
        sample_weight = domain_axis.concat(
            [domain_axis.domain(sample_weight, k) for k in range(num_domains)]
        )
        y_pred = domain_axis.concat(y_pred)
        return tf.cond(
            applied,
            lambda: self.compute_metrics(x, y, y_pred, sample_weight),
            self.get_metrics_result,
        )

    # -- saving -----------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "network": keras.saving.serialize_keras_object(self.network),
                "surgery": surgery_lib.serialize(self.surgery),
                "num_domains": self.num_domains,
                "coupled_l2": self.coupled_l2,
                "freeze_batchnorm": self.freeze_batchnorm,
                "batchnorm_update": self.batchnorm_update,
                "conflict_every": self.conflict_every,
                "jit_surgery": self.jit_surgery,
                "streaming": self.streaming,
                "warmup_steps": self.warmup_steps,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(
            config["network"]
        )
        config["surgery"] = surgery_lib.deserialize(config["surgery"])
        return cls(**config)


# The fields of `steps.StepContext` that are the model's attributes of the
# same name (the others are given by name in `_step_context`).
_CONTEXT_ATTRIBUTES = tuple(
    name
    for name in steps.StepContext._fields
    if name not in ("model", "measure_conflicts", "layer_monitor")
)


def _check_at_least(value, minimum, name, allow_none=False):
    if value is None and allow_none:
        return
    if value is None or not float(value) >= minimum:
        raise ValueError(
            f"GradSurgeryModel: `{name}` must be >= {minimum}"
            f"{' or None' if allow_none else ''}. Received: {name}={value}"
        )
