"""`FishrStep`: ERM plus the penalty on the domains' gradient variances."""

import keras
import tensorflow as tf

from keras_gs.model import batchnorm_statistics
from keras_gs.model import call_recorder
from keras_gs.model import domain_axis
from keras_gs.model import joint_batch_losses
from keras_gs.model import passes
from keras_gs.model import regularization
from keras_gs.model.steps import ending
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule
from keras_gs.model.steps.optimizer_reset import OptimizerReset
from keras_gs.utils import distribute


class FishrStep(StepRule):
    """Fishr's step (`keras_gs.surgery.Fishr`), as DomainBed's `Fishr.update`.

    One joint pass over all domains' examples. The per-example gradients
    of the classifier (the network's last layer, a `Dense` without
    activation: logits z = h W + b) have a closed form: with e_i the
    gradient of example i's loss with respect to its logits, they are
    h_i e_i^T for W and e_i for b. A domain's variance over its n examples
    needs only two sums per entry, sum_i h_i e_i^T and
    sum_i (h_i^2)(e_i^2)^T (and sum_i e_i, sum_i e_i^2 for b), so the
    per-example gradients are never stored: memory K x the classifier.

    Under `tf.distribute` the variances are over each domain's global
    batch: the sums are summed across replicas, and the penalty P and its
    gradient dP/d(sums) are computed from the global sums (the same on
    every replica). Each replica then differentiates
    <its own sums, dP/d(sums)>, whose gradients, summed across replicas,
    are the global penalty's gradient (chain rule). e_i comes from the
    compiled loss, Keras's mean over the replica's examples divided by R:
    its gradient times examples x R.

    State: each domain's moving average of the variances (in the model's
    `StepState`, saved and backed up with it). The anneal counts the
    optimizer's applied steps (its step count is the run's step).
    """

    has_state = True
    logs = ("penalty",)

    def __init__(self, method):
        super().__init__()
        self.penalty_weight = method.penalty_weight
        self.anneal = method.penalty_anneal_iters
        self.ema = method.ema
        self.moving_variances = None
        self.reset = None

    def build(self, model, state):
        classifier = classifier_layer(model.network)
        size = int(classifier.kernel.shape.num_elements())
        if classifier.use_bias:
            size += int(classifier.bias.shape.num_elements())
        self.moving_variances = state.add_state(
            "fishr_moving_variances", (model.num_domains, size)
        )
        self._build_reset(model)

    def ready(self, model):
        if self.built and self.reset.optimizer is not model.optimizer:
            # Compiled again: a reset to the new optimizer's fresh state.
            self._build_reset(model)
        return super().ready(model)

    def _build_reset(self, model):
        if self.anneal == 0:
            self.reset = OptimizerReset.none(model.optimizer)
            return
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self.reset = OptimizerReset(model.optimizer, self.anneal)

    def step(self, context, x, y, sample_weight, step):
        model = context.model
        variables = model.trainable_variables
        optimizer = context.optimizer
        num_domains = context.num_domains
        joint_x, joint_y, joint_weight = (
            domain_axis.join(t) for t in (x, y, sample_weight)
        )
        classifier = classifier_layer(context.network)
        batchnorm = batchnorm_statistics.for_step(
            context.network, context.batchnorm_update
        )
        activity = joint_batch_losses.ActivityLosses(context.network, num_domains)
        features = []
        with batchnorm.recording(), call_recorder.observe(
            classifier,
            "call",
            lambda original, args, result: features.append(args[0]),
        ):
            with tf.GradientTape() as tape:
                with activity.recording():
                    pred = model(joint_x, training=True)
                self.ensure_built(model)
                added = regularization.forward_losses(model)
                logits = tf.cast(pred, tf.float32)
                with tf.GradientTape() as logits_tape:
                    logits_tape.watch(logits)
                    data_loss = passes.compiled_loss(
                        model, joint_y, logits, joint_weight
                    )
                # Recorded by `tape`: the penalty's gradient goes through
                # the per-example gradients (second order).
                examples = tf.cast(tf.shape(logits)[0], tf.float32)
                errors = logits_tape.gradient(data_loss, logits) * (
                    examples * distribute.num_replicas()
                )
                sums = variance_sums(
                    features[-1], errors, num_domains, classifier.use_bias
                )
                with tape.stop_recording():
                    penalty, slopes, averages = self._penalty(sums)
                surrogate = tf.add_n(
                    [tf.reduce_sum(s * d) for s, d in zip(sums[:2], slopes)]
                )
                objective = data_loss + added + self._weight(step) * surrogate
                scaled = optimizer.scale_loss(objective)
            grads = regularization.zeros_for_none(
                tape.gradient(scaled, variables), variables
            )
            regularizers = regularization.weight_gradients(model, variables)
        grads, regularizers, applied = ending.global_sum(
            grads, regularizers, optimizer
        )
        # DomainBed re-creates Adam when the penalty switches on: its
        # moments and its bias correction restart.
        self.reset(tf.logical_and(applied, tf.equal(step, self.anneal)))
        counting = self.reset.restarted_count()
        ending.apply(
            context, grads, applied, regularizers, batchnorm, counting=counting
        )
        self.moving_variances.assign(
            tf.where(applied, averages, self.moving_variances)
        )
        losses, y_pred = passes.joint_domain_losses(
            model, y, sample_weight, pred, activity, added
        )
        return StepOutcome(losses, y_pred, applied, (), (penalty,))

    def _weight(self, step):
        if self.anneal == 0:
            return self.penalty_weight
        return tf.where(step >= self.anneal, self.penalty_weight, 0.0)

    def _penalty(self, sums):
        """P, dP/d(global sums), and the new moving averages (no gradient)."""
        first, second, count = distribute.sum_across_replicas(
            [tf.stop_gradient(s) for s in sums]
        )
        with tf.GradientTape() as tape:
            tape.watch([first, second])
            mean = first / count
            variance = second / count - tf.square(mean)
            averages = self.ema * self.moving_variances + (1.0 - self.ema) * variance
            # DomainBed returns the average / (1 - ema): the current
            # variance's coefficient is 1.
            corrected = averages / (1.0 - self.ema)
            spread = corrected - tf.reduce_mean(corrected, 0, keepdims=True)
            # The mean over domains of the mean over entries.
            penalty = tf.reduce_mean(tf.square(spread))
        slopes = tape.gradient(penalty, [first, second])
        return penalty, slopes, averages


def classifier_layer(network):
    """The network's last layer: a `Dense` without activation.

    Raises:
        ValueError: naming the layer found, when it is not one.
    """
    if isinstance(network, keras.layers.Dense):
        layer = network
    else:
        layers = getattr(network, "layers", None) or [None]
        layer = layers[-1]
    linear = keras.activations.get("linear")
    if not isinstance(layer, keras.layers.Dense) or layer.activation is not linear:
        found = (
            f"{layer.name!r} of type {type(layer).__name__}"
            if layer is not None
            else "no layer list"
        )
        raise ValueError(
            "fishr takes per-example gradients of the network's last layer, "
            "which must be a keras.layers.Dense without activation (the "
            f"classifier, whose outputs are the logits). Received: {found}."
        )
    return layer


def variance_sums(features, errors, num_domains, bias=True):
    """Per domain, the sums of the classifier's per-example gradients and
    of their squares over this replica's examples, and the count.

    Args:
        features: `(rows, d)`, the classifier's inputs h_i.
        errors: `(rows, C)`, each example's loss gradient at its logits.
        num_domains: int, K; rows are the joint batch, domain k's being
            k, k + K, ... (`domain_axis.join`).
        bias: bool, whether the classifier has a bias. Defaults to `True`.

    Returns:
        `[first, second, count]`: `(K, P)` sums of the gradients and of
        their squares, P = d * C (+ C with a bias), and the examples per
        domain.
    """
    if features.shape.rank != 2:
        raise ValueError(
            "fishr takes per-example gradients of a classifier applied to "
            "one feature vector per example; the network's last Dense layer "
            f"gets inputs of shape {tuple(features.shape)}."
        )
    features = tf.cast(features, tf.float32)
    h = tf.reshape(features, [-1, num_domains, features.shape[-1]])
    e = tf.reshape(errors, [-1, num_domains, errors.shape[-1]])
    kernel_first = tf.einsum("nkd,nkc->kdc", h, e)
    kernel_second = tf.einsum("nkd,nkc->kdc", tf.square(h), tf.square(e))
    first = [tf.reshape(kernel_first, [num_domains, -1])]
    second = [tf.reshape(kernel_second, [num_domains, -1])]
    if bias:
        first.append(tf.reduce_sum(e, 0))
        second.append(tf.reduce_sum(tf.square(e), 0))
    count = tf.cast(tf.shape(h)[0], tf.float32)
    return [tf.concat(first, 1), tf.concat(second, 1), count]
