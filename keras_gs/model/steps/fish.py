"""`FishStep`: one inner optimizer step per domain, then the meta update."""

import keras
import tensorflow as tf

from keras_gs.model import domain_axis
from keras_gs.model import passes
from keras_gs.model import regularization
from keras_gs.model.steps import ending
from keras_gs.model.steps.base import StepOutcome
from keras_gs.model.steps.base import StepRule


class FishStep(StepRule):
    """Fish's step (`keras_gs.surgery.Fish`), as DomainBed's `Fish.update`.

    DomainBed clones the network, steps the clone once per domain and
    moves the network toward it. The same computation here, without a
    second network: the step keeps the weights theta (as tensors), takes
    the inner steps on the network itself, and assigns
    theta + meta_lr * (theta_inner - theta). The weights moved are every
    floating-point weight of the network (trainable ones and BatchNorm
    statistics), as DomainBed moves the whole `state_dict`.

    Under `tf.distribute` each inner step is the one device's: the
    domain's gradients are summed across replicas and the inner optimizer
    gets 1/R of them (`replicas.apply`), so every replica holds the same
    weights before the next domain's pass. The compiled optimizer applies
    nothing; its step count goes up by one per applied step.

    A step with a non-finite gradient leaves the weights as they were
    (inner steps with non-finite gradients are not applied; the inner
    optimizer keeps the state of the finite ones before it).
    """

    has_state = True

    def __init__(self, method):
        super().__init__()
        self.meta_lr = method.meta_lr
        self.inner = None
        self._outer = None

    def build(self, model, state):
        inner = self.inner_optimizer(model)
        inner.build(model.trainable_variables)
        # Built as Keras builds it anyway, so that `.keras` files hold the
        # variables a loaded model has (its step count among them).
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        state.hold("fish_inner_optimizer", inner.variables)

    def inner_optimizer(self, model):
        """The inner optimizer: a copy of the compiled one, made once."""
        if self.inner is None:
            with tf.init_scope():
                self.inner = inner_copy(model.optimizer)
            self._outer = model.optimizer
        return self.inner

    def ready(self, model):
        if self.inner is not None and getattr(
            model, "optimizer", None
        ) is not self._outer:
            raise ValueError(
                "fish: the model was compiled again with another optimizer, "
                "but its inner optimizer is a copy of the first one (its "
                "state is saved with the model). Build a new "
                "GradSurgeryModel to train with another optimizer."
            )
        return super().ready(model)

    def step(self, context, x, y, sample_weight, step):
        model = context.model
        variables = model.trainable_variables
        moved = moved_weights(context.network)
        start = [tf.identity(w.value) for w in moved]
        losses, y_pred, finite = [], [], []
        for k in range(context.num_domains):
            data = [domain_axis.domain(t, k) for t in (x, y, sample_weight)]
            result = passes.forward_backward(
                model, *data, variables, optimizer=self.inner_optimizer(model)
            )
            # A network built by this first pass gets its state now.
            self.ensure_built(model)
            regularizers = regularization.weight_gradients(
                model, variables, self.inner
            )
            grads, regularizers, applied = ending.global_sum(
                result.grads, regularizers, self.inner
            )
            # Read after the previous domain's inner step (TensorFlow orders
            # the reads and writes of a variable as written).
            ending.apply(context, grads, applied, regularizers, optimizer=self.inner)
            losses.append(result.loss)
            y_pred.append(result.pred)
            finite.append(applied)
        applied = tf.reduce_all(finite)
        for weight, theta in zip(moved, start):
            inner_weight = weight.value
            weight.assign(
                tf.where(
                    applied,
                    theta + self.meta_lr * (inner_weight - theta),
                    theta,
                )
            )
        iterations = context.optimizer.iterations
        iterations.assign_add(tf.cast(applied, iterations.dtype))
        return StepOutcome(losses, y_pred, applied, (), ())


def inner_copy(optimizer):
    """A new optimizer of the same class and settings, without state."""
    config = optimizer.get_config()
    config["name"] = f"fish_inner_{config['name']}"
    return type(optimizer).from_config(config)


def moved_weights(network):
    """The network's floating-point weights, trainable or not, once each."""
    seen, weights = set(), []
    for weight in network.weights:
        if id(weight) not in seen and keras.backend.is_float_dtype(weight.dtype):
            seen.add(id(weight))
            weights.append(weight)
    return weights

