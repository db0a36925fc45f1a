"""`GradSurgeryModel`: a Keras model trained with one gradient per domain."""

import contextlib
import random
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from keras_gs.model import batchnorm_statistics
from keras_gs.utils import distribute
from keras_gs.model import joint_batch_losses
from keras_gs import surgery as surgery_lib
from keras_gs.callbacks import backup_and_restore
from keras_gs.model.combiner import CombineStep
from keras_gs.model.combiner import StreamingCombine
from keras_gs.utils.choices import check_choice
from keras_gs.model.step_count import StepCount

_DOMAIN_AXIS_HELP = (
    "GradSurgeryModel trains on batches laid out (batch, num_domains, ...): "
    "row i holds the i-th example of every domain (see "
    "keras_gs.data.zip_domains). evaluate, predict and validation_data take "
    "ordinary batches without the domain axis."
)


@keras.saving.register_keras_serializable(package="keras_gs")
class GradSurgeryModel(keras.Model):
    """Trains `network` with a gradient surgery across source domains.

    Each training step runs one forward and backward pass per source domain
    (one `tf.GradientTape` each), sums each domain's gradient across
    replicas, combines the domain gradients with `surgery`, and applies the
    result. Everything else is an ordinary Keras model: `compile`, `fit`,
    `evaluate`, `predict`, `save` and `keras.saving.load_model` work as
    usual, and `evaluate`/`predict` take ordinary batches.

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
    `freeze_batchnorm=True` keeps every BatchNormalization layer in
    inference mode by setting its `trainable` to False (Keras's fine-tuning
    convention: gamma and beta freeze too). Batch statistics inside a pass
    are per replica unless the layers are built with `synchronized=True`.

    Args:
        network: a `keras.Model` or layer mapping inputs to predictions.
        surgery: a name from `keras_gs.surgery.names()` or a
            `keras_gs.surgery.Surgery`. Defaults to `"agr-sum"`.
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
        conflict_every: int, measure `agreement` and `cosine` every this
            many steps (their epoch averages are over the measured steps);
            the other steps skip that work. Defaults to `1`.
        jit_surgery: `"auto"`, True or False: compile the surgery and the
            sign agreement with XLA, while the network's passes keep the
            model's own setting and the whole-network reductions (finite
            check, cosine) stay on TensorFlow's kernels. On CPU this fuses
            the element-wise work (see `keras_gs.model.combiner`). `"auto"`
            compiles the surgery when it allows it
            (`Surgery.jit_compile`). Defaults to `"auto"`.
        streaming: bool, fold each domain's gradient into the surgery's
            running sums as soon as its pass ends, so the memory the
            surgery adds does not grow with the number of domains (sum,
            mean, agr-sum, and-mask; same results). Under `tf.distribute`
            each domain's gradient is all-reduced as it comes. Defaults to
            `False`.
        seed: int or None, seed of the surgery's random draws (Agr-Rand
            noise, PCGrad order); combined with the optimizer step, so draws
            are the same on every replica and reproducible. Drawn at
            random and recorded in the config when None. Defaults to `None`.
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
        jit_surgery="auto",
        streaming=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(network, keras.layers.Layer):
            raise ValueError(
                "GradSurgeryModel: `network` must be a keras.Model or layer. "
                f"Received: network={network!r}"
            )
        if num_domains is not None and int(num_domains) < 1:
            raise ValueError(
                f"GradSurgeryModel: `num_domains` must be >= 1 or None. "
                f"Received: num_domains={num_domains}"
            )
        if float(coupled_l2) < 0:
            raise ValueError(
                f"GradSurgeryModel: `coupled_l2` must be >= 0. "
                f"Received: coupled_l2={coupled_l2}"
            )
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
        if int(conflict_every) < 1:
            raise ValueError(
                f"GradSurgeryModel: `conflict_every` must be >= 1. "
                f"Received: conflict_every={conflict_every}"
            )
        self.conflict_every = int(conflict_every)
        if jit_surgery not in ("auto", True, False):
            raise ValueError(
                f"GradSurgeryModel: `jit_surgery` must be 'auto', True or "
                f"False. Received: jit_surgery={jit_surgery!r}"
            )
        self.jit_surgery = jit_surgery
        self.streaming = bool(streaming)
        if self.streaming and not self.surgery.streams:
            streamable = sorted(
                n
                for n, cls in surgery_lib.registered().items()
                if cls.streams
            )
            raise ValueError(
                f"GradSurgeryModel: surgery {self.surgery.name!r} cannot "
                f"stream (it needs every domain gradient at once). Received: "
                f"streaming=True. Surgeries that stream: {streamable}"
            )
        self._combine = None
        self._layer_monitor = None
        self.num_domains = None
        self._domain_batches = False
        if self.freeze_batchnorm:
            for layer in network._flatten_layers():
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        if num_domains is not None:
            self._create_trackers(int(num_domains))
        if network.built:
            self.built = True

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = self._split_domains(data)
        variables = self.trainable_variables
        # A snapshot: the optimizer increments its counter during the step.
        step = tf.identity(self.optimizer.iterations)
        batchnorm = self._batchnorm_statistics()
        with batchnorm.recording() if batchnorm else contextlib.nullcontext():
            if self.streaming:
                losses, y_pred, update, finite, measured, extra_grads = (
                    self._streamed_update(x, y, sample_weight, step)
                )
            else:
                losses, y_pred, domain_grads = self._gradients(
                    x, y, sample_weight
                )
                domain_grads, extra_grads = self._sum_across_replicas(
                    domain_grads, self._regularization_gradients(variables)
                )
                update, finite, measured, layers = self._combine_step()(
                    domain_grads, extra_grads, self._step_seed(), step
                )
                if self._layer_monitor is not None:
                    self._layer_monitor.record(layers, step)
        update = self._add_regularization(update, extra_grads, variables)
        self._apply(update, variables, finite)
        if batchnorm:
            batchnorm.apply(finite)
        self._update_trackers(losses, measured, finite, x, step)
        return _for_multi_worker_reduction(
            self._compute_metrics_if(finite, x, y, y_pred, sample_weight)
        )

    def _sum_across_replicas(self, domain_grads, extra_grads):
        """Global per-domain gradients, the same on every replica.

        One all-reduce for all domains and the regularization gradients
        (Keras already divided each loss by R, so the sum is the gradient of
        the global batch's loss); the loss scale is removed here, before
        the surgery sees the gradients.
        """
        flat = self._global(sum(domain_grads, []) + extra_grads)
        n = len(self.trainable_variables)
        per_domain = [
            flat[k * n : (k + 1) * n] for k in range(len(domain_grads))
        ]
        return per_domain, flat[len(domain_grads) * n :]

    def _global(self, grads):
        """Summed across replicas, loss scale removed."""
        return _scaled(
            distribute.sum_across_replicas(grads), 1.0 / self._loss_scale()
        )

    def _streamed_update(self, x, y, sample_weight, step):
        """Per-domain passes, each gradient folded in as soon as it exists.

        Each domain's gradient is summed across replicas and folded into the
        surgery's running sums; the next domain's pass starts only after
        that (a control dependency), so at most one domain's gradient is
        held at a time.
        """
        combine = self._combine_step()
        variables = self.trainable_variables
        state = combine.start(variables)

        def fold(grads):
            nonlocal state
            state = combine.fold(state, self._global(grads), step)
            return state[0].tensors()

        losses, y_pred, _ = self._gradients(x, y, sample_weight, fold=fold)
        extra_grads = self._global(self._regularization_gradients(variables))
        update, finite, measured = combine.finish(state, extra_grads, step)
        return losses, y_pred, update, finite, measured, extra_grads

    def _compute_metrics_if(self, applied, x, y, y_pred, sample_weight):
        """The compiled metrics, updated only on applied steps.

        Like the loss trackers, they are epoch averages over the steps that
        changed the weights. (Metrics compiled without `weighted_metrics`
        ignore sample weights, so the step must be left out, not weighted
        by 0.)
        """
        num_domains = len(y_pred)
        y = _concat([_domain(y, k) for k in range(num_domains)])
        y_pred = _concat(y_pred)
        sample_weight = _concat(
            [_domain(sample_weight, k) for k in range(num_domains)]
        )
        return tf.cond(
            applied,
            lambda: self.compute_metrics(x, y, y_pred, sample_weight),
            self.get_metrics_result,
        )

    def _combine_step(self):
        if self._combine is None:
            options = dict(
                measure_conflicts=bool(self.conflict_trackers),
                conflict_every=self.conflict_every,
                jit_compile=self._jit_surgery(),
            )
            if self.streaming:
                self._combine = StreamingCombine(self.surgery, **options)
            else:
                self._combine = CombineStep(
                    self.surgery, layer_monitor=self._layer_monitor, **options
                )
        return self._combine

    def attach_layer_monitor(self, monitor):
        """Computes per-layer conflict measures for `monitor` (or stops).

        Called by `keras_gs.callbacks.ConflictMonitor`; the next `fit`
        traces its step anew.
        """
        if monitor is not None and self.streaming:
            raise ValueError(
                "ConflictMonitor needs every domain's gradient at once; "
                "this model streams them. Received: streaming=True. Use "
                "streaming=False to monitor conflicts per layer."
            )
        self._layer_monitor = monitor
        self._combine = None
        self.train_function = None

    def _jit_surgery(self):
        if self.jit_surgery != "auto":
            return self.jit_surgery
        # On CPU (XLA off for the whole step) XLA fuses the element-wise
        # work; where the whole step is compiled it is compiled anyway.
        return True

    def _batchnorm_statistics(self):
        """A `JointStatistics` for this step, or None to leave BN alone."""
        if self.batchnorm_update != "joint":
            return None
        statistics = batchnorm_statistics.JointStatistics(self.network)
        return statistics if statistics.layers else None

    def test_step(self, data):
        logs = super().test_step(data)
        return _for_multi_worker_reduction(
            {k: v for k, v in logs.items() if k not in self._train_only_names}
        )

    # -- the passes ---------------------------------------------------------

    def _gradients(self, x, y, sample_weight, fold=None):
        """Per-domain losses, predictions, and one gradient per pass.

        One pass per domain, or, for a joint-batch surgery (ERM), one pass
        over the concatenated batch whose predictions are then split back
        into domains for the per-domain losses. With `fold`, each pass's
        gradients go to `fold` instead of the returned list, and the next
        pass waits for the tensors `fold` returns.
        """
        data = (x, y, sample_weight)
        if self.surgery.joint_batch:
            passes = [tuple(_join_domains(t) for t in data)]
        else:
            passes = [
                tuple(_domain(t, k) for t in data)
                for k in range(self.num_domains)
            ]
        variables = self.trainable_variables
        activity = joint_batch_losses.ActivityLosses(
            self.network, self.num_domains
        )
        losses, y_pred, grads, folded = [], [], [], []
        for x_pass, y_pass, weight_pass in passes:
            with tf.control_dependencies(folded), tf.GradientTape() as tape:
                if self.surgery.joint_batch:
                    with activity.recording():
                        pred = self(x_pass, training=True)
                else:
                    pred = self(x_pass, training=True)
                added = self._added_loss()
                loss = self._compiled_loss(y_pass, pred, weight_pass) + added
                scaled = self.optimizer.scale_loss(loss)
            pass_grads = _zeros_for_none(
                tape.gradient(scaled, variables), variables
            )
            if fold is None:
                grads.append(pass_grads)
            else:
                folded = fold(pass_grads)
            losses.append(loss)
            y_pred.append(pred)
        if self.surgery.joint_batch:
            # Each domain's share of the joint pass, as the per-domain
            # surgeries would log it.
            y_pred = _unjoin_domains(y_pred[0], self.num_domains)
            losses = [
                self._compiled_loss(
                    _domain(y, k), pred, _domain(sample_weight, k)
                )
                + term
                for k, (pred, term) in enumerate(
                    zip(y_pred, activity.domain_terms(added))
                )
            ]
        return losses, y_pred, grads

    def _compiled_loss(self, y, y_pred, sample_weight):
        if self._compile_loss is None:
            raise ValueError(
                "GradSurgeryModel needs a loss: call "
                "`compile(loss=...)` before `fit`."
            )
        return self._compile_loss(y, y_pred, sample_weight)

    def _added_loss(self):
        """The last pass's `add_loss` terms (activity regularizers...).

        Weight regularization is left out: it is added once, after the
        surgery (`_regularization_gradients`).
        """
        losses = self.losses
        # Keras lists weight-regularization losses last in `self.losses`.
        num_forward = len(losses) - len(self._regularized_variables())
        total = tf.constant(0.0)
        for extra in losses[:num_forward]:
            total = total + self._aggregate_additional_loss(extra)
        return total

    def _regularized_variables(self):
        return [
            v
            for v in self.trainable_variables
            if getattr(v, "regularizer", None) is not None
        ]

    def _regularization_gradients(self, variables):
        """Gradients of the weight-regularization losses, taken once."""
        regularized = self._regularized_variables()
        if not regularized:
            return []
        with tf.GradientTape() as tape:
            loss = tf.add_n(
                [
                    self._aggregate_additional_loss(v.regularizer(v))
                    for v in regularized
                ]
            )
            loss = self.optimizer.scale_loss(loss)
        return _zeros_for_none(tape.gradient(loss, variables), variables)

    def _add_regularization(self, update, regularization_grads, variables):
        if regularization_grads:
            update = [u + r for u, r in zip(update, regularization_grads)]
        if self.coupled_l2:
            update = [
                u + self.coupled_l2 * tf.cast(v, u.dtype)
                for u, v in zip(update, variables)
            ]
        return update

    # -- applying the update --------------------------------------------------

    def _loss_scale(self):
        """The factor `optimizer.scale_loss` multiplied the losses by."""
        optimizer = self.optimizer
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return 1.0
        # Before its first step the optimizer is unbuilt and scales by its
        # initial scale, which its build then takes as the dynamic scale.
        return (
            optimizer.dynamic_scale
            if optimizer.built
            else optimizer.initial_scale
        )

    def _apply(self, update, variables, finite):
        # The optimizer sums the R identical copies across replicas: hand
        # it 1/R of the update (and put back the loss scale it removes).
        update = _scaled(update, self._loss_scale() / distribute.num_replicas())
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # It skips non-finite steps itself and lowers its loss scale.
            # A surgery may mask a NaN away (Agr-Sum), so the decision taken
            # on the domain gradients is passed on as a NaN update.
            poison = tf.where(finite, 1.0, float("nan"))
            update = [u * tf.cast(poison, u.dtype) for u in update]
            self.optimizer.apply(update, variables)
        else:
            distribute.apply_if(finite, self.optimizer, update, variables)

    def _step_seed(self):
        """Same on every replica; new each step; reproducible from `seed`."""
        return tf.stack(
            [
                tf.constant(self.seed, tf.int64),
                tf.cast(self.optimizer.iterations, tf.int64),
            ]
        )

    # -- metrics ----------------------------------------------------------------

    def _create_trackers(self, num_domains):
        self.num_domains = num_domains
        self.domain_loss_trackers = [
            keras.metrics.Mean(name=f"loss_{k}") for k in range(num_domains)
        ]
        self.skipped_steps_tracker = StepCount(name="skipped_steps")
        self.conflict_trackers = []
        if not self.surgery.joint_batch:
            # ERM takes one gradient: there is nothing to compare.
            self.conflict_trackers = [
                keras.metrics.Mean(name="agreement"),
                keras.metrics.Mean(name="cosine"),
            ]
        self._train_only_names = {
            t.name
            for t in self.domain_loss_trackers
            + self.conflict_trackers
            + [self.skipped_steps_tracker]
        }

    def _update_trackers(self, losses, measured, finite, x, step):
        applied = tf.cast(finite, tf.float32)
        batch = tf.cast(tf.shape(tree.flatten(x)[0])[0], tf.float32)

        def record(tracker, value, weight):
            # NaN * 0 is NaN: drop the value itself, not only its weight.
            value = tf.cast(value, tf.float32)
            tracker.update_state(
                tf.where(finite, value, 0.0), sample_weight=weight * applied
            )

        # Keras divided each loss by R; record the loss itself.
        unscaled = [loss * distribute.num_replicas() for loss in losses]
        record(self._loss_tracker, tf.add_n(unscaled) / len(unscaled), batch)
        for tracker, loss in zip(self.domain_loss_trackers, unscaled):
            record(tracker, loss, batch)
        if self.conflict_trackers:
            # Averages over the measured steps only.
            weight = tf.cast(
                tf.equal(step % self.conflict_every, 0), tf.float32
            )
            for tracker, value in zip(self.conflict_trackers, measured):
                record(tracker, value, weight)
        self.skipped_steps_tracker.update_state(tf.logical_not(finite))

    # -- data checks ----------------------------------------------------------------

    def _split_domains(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise ValueError(
                "GradSurgeryModel.fit needs labels: (x, y) batches. "
                + _DOMAIN_AXIS_HELP
            )
        if self.num_domains is None:
            raise ValueError(
                "GradSurgeryModel does not know its number of domains: pass "
                "`num_domains=` to the constructor."
            )
        for name, t in (("x", x), ("y", y), ("sample_weight", sample_weight)):
            for leaf in tree.flatten(t) if t is not None else []:
                shape = leaf.shape
                if (
                    shape.rank is None
                    or shape.rank < 2
                    or shape[1] != self.num_domains
                ):
                    raise ValueError(
                        f"GradSurgeryModel expects {name} of shape (batch, "
                        f"num_domains={self.num_domains}, ...). Received: "
                        f"{name} of shape {tuple(shape)}. " + _DOMAIN_AXIS_HELP
                    )
        return x, y, sample_weight

    # -- Keras plumbing --------------------------------------------------------------

    def compile(self, *args, **kwargs):
        steps = kwargs.get("steps_per_execution", 1)
        replicas = self.distribute_strategy.num_replicas_in_sync
        if isinstance(steps, int) and steps > 1 and replicas > 1:
            # Keras runs several steps in a tf.while_loop, and a tf.cond in
            # the cross-replica context inside it (our skip of non-finite
            # steps, as Keras's own LossScaleOptimizer) fails with "You
            # must feed a value for placeholder tensor" when there are
            # several replicas (Keras 3.15, plain Keras + mixed_float16
            # too). One step per execution is exact and works.
            warnings.warn(
                f"GradSurgeryModel: steps_per_execution={steps} runs as 1 "
                f"with {replicas} replicas (a Keras 3.15 limitation with a "
                "tf.cond in the cross-replica context inside its multi-step "
                "loop). Callbacks are called every step.",
                stacklevel=2,
            )
            kwargs["steps_per_execution"] = 1
        super().compile(*args, **kwargs)

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        self._prepare_for_training(x, y)
        if callbacks is not None and distribute.is_multi_worker(
            self.distribute_strategy
        ):
            callbacks = [_multi_worker_safe(c) for c in callbacks]
        with self._domain_axis_batches():
            return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._prepare_for_training(x, y)
        with self._domain_axis_batches():
            return super().train_on_batch(x, y, *args, **kwargs)

    def _prepare_for_training(self, x, y):
        """Learns the domain count from the data and creates the trackers."""
        found = _domain_count(x, y)
        if (
            found is not None
            and self.num_domains is not None
            and found != self.num_domains
        ):
            raise ValueError(
                f"The training data has {found} domains (axis 1), but the "
                f"model was built for num_domains={self.num_domains}. "
                + _DOMAIN_AXIS_HELP
            )
        if self.num_domains is None:
            if found is None:
                raise ValueError(
                    "GradSurgeryModel could not read the number of domains "
                    "from the training data; pass `num_domains=` to the "
                    "constructor. " + _DOMAIN_AXIS_HELP
                )
            with self.distribute_strategy.scope():
                self._create_trackers(found)

    @contextlib.contextmanager
    def _domain_axis_batches(self):
        self._domain_batches = True
        try:
            yield
        finally:
            self._domain_batches = False

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # keras-team/keras#20585 (Keras 3.15): before the first step, Keras
        # reduces the first distributed batch with strategy.reduce("MEAN")
        # eagerly, which MultiWorkerMirroredStrategy refuses ("Attempt to
        # convert a value (PerReplica ...) with an unsupported type").
        # Building needs only the batch's shapes: take this worker's first
        # replica's part. Single-process strategies keep Keras's path.
        if iterator is not None and distribute.is_multi_worker(
            self.distribute_strategy
        ):
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    self._first_local_value, next(batches)
                )
                break
            iterator = None
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _first_local_value(self, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return self.distribute_strategy.experimental_local_results(value)[0]
        return value

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds losses and metrics from one batch before the first
        # step; training batches carry a domain axis the network does not
        # take, so build from one domain's slice.
        if self._domain_batches and data_batch is not None:
            x, y, sample_weight = self._split_domains(data_batch)
            data_batch = (
                _domain(x, 0),
                _domain(y, 0),
                _domain(sample_weight, 0),
            )
        super()._symbolic_build(iterator=iterator, data_batch=data_batch)

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


def _multi_worker_safe(callback):
    """Keras's BackupAndRestore has every worker write the same files."""
    if type(callback) is keras.callbacks.BackupAndRestore:
        return backup_and_restore.BackupAndRestore.from_keras(callback)
    return callback


def _for_multi_worker_reduction(logs):
    """Gives the step's scalar logs a leading axis under several workers.

    keras-team/keras#20585 (Keras 3.15): under MultiWorkerMirroredStrategy
    Keras reduces each log with strategy.reduce("MEAN", v, axis=0), which
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


def _domain(t, k):
    if t is None:
        return None
    return tree.map_structure(lambda leaf: leaf[:, k], t)


def _join_domains(t):
    """(batch, K, ...) -> (batch * K, ...)."""
    if t is None:
        return None
    return tree.map_structure(
        lambda leaf: tf.reshape(leaf, tf.concat([[-1], tf.shape(leaf)[2:]], 0)),
        t,
    )


def _unjoin_domains(t, num_domains):
    """(batch * K, ...) -> a list of K tensors (batch, ...)."""

    def split(leaf):
        shape = tf.concat([[-1, num_domains], tf.shape(leaf)[1:]], 0)
        return tf.reshape(leaf, shape)

    grouped = tree.map_structure(split, t)
    return [_domain(grouped, k) for k in range(num_domains)]


def _concat(per_domain):
    """A list of per-domain structures -> one structure, domains stacked."""
    if per_domain[0] is None:
        return None
    return tree.map_structure(lambda *leaves: tf.concat(leaves, 0), *per_domain)


def _scaled(tensors, factor):
    """Multiplies by `factor`, skipping the copy when it is a Python 1."""
    if isinstance(factor, float) and factor == 1.0:
        return tensors
    return [t * tf.cast(factor, t.dtype) for t in tensors]


def _zeros_for_none(grads, variables):
    return [
        tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
        for g, v in zip(grads, variables)
    ]


def _domain_count(x, y):
    """The domain axis size from a dataset's spec or arrays, else None."""
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        x_spec = spec[0] if isinstance(spec, tuple) else spec
        y_spec = spec[1] if isinstance(spec, tuple) and len(spec) > 1 else None
    elif isinstance(x, (np.ndarray, tf.Tensor)):
        x_spec, y_spec = x, y
    else:
        return None
    leaves = tree.flatten(x_spec)
    if y_spec is not None:
        leaves += tree.flatten(y_spec)
    for leaf in leaves:
        if len(leaf.shape) < 2:
            raise ValueError(
                f"The training data has an element of shape "
                f"{tuple(leaf.shape)}, with no domain axis. "
                + _DOMAIN_AXIS_HELP
            )
    sizes = {leaf.shape[1] for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"The training data's axis 1 (domains) differs between x and y "
            f"or is unknown: sizes {sorted(map(str, sizes))}. "
            + _DOMAIN_AXIS_HELP
        )
    return int(sizes.pop())
