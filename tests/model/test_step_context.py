"""What a step rule reads of the model: `StepContext`, the step's seed, and
the surgeries' combiner, which the rule owns."""

import keras
import numpy as np
import tensorflow as tf

import keras_gs
from keras_gs.model import steps
from tiny_models import compile_model

X = np.array([[[1.0, 0.0], [1.0, 1.0]]], "float32")  # (batch, domains, 2)
Y = np.array([[0, 1]], "int32")


def linear_model(**options):
    network = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="zeros")]
    )
    model = keras_gs.GradSurgeryModel(network, surgery="pcgrad", seed=11, **options)
    return compile_model(model, keras.optimizers.SGD(1.0))


def fit_one_step(model):
    model.fit(X, Y, batch_size=1, epochs=1, verbose=0, shuffle=False)


def test_step_seed_is_the_seed_and_the_step():
    seed = steps.step_seed(11, tf.constant(5, tf.int64))
    assert seed.dtype == tf.int64
    np.testing.assert_array_equal(seed.numpy(), [11, 5])
    # The largest seed the model draws, and a step given as a Python int.
    np.testing.assert_array_equal(
        steps.step_seed(2**31 - 1, 7).numpy(), [2**31 - 1, 7]
    )


def test_a_new_layer_monitor_gets_a_new_combiner():
    model = linear_model()
    fit_one_step(model)
    rule = model._step_rule
    first = rule._combiner
    assert first is not None and first.layer_monitor is None
    monitor = keras_gs.model.LayerStatistics(model, every=1)
    model.attach_layer_monitor(monitor)
    assert rule._combiner is None and model.train_function is None
    fit_one_step(model)
    assert rule._combiner is not first
    assert rule._combiner.layer_monitor is monitor


def test_the_combiner_unscales_with_the_optimizer_compiled_last():
    model = linear_model()
    fit_one_step(model)
    scaled = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(1.0), initial_scale=8.0
    )
    compile_model(model, scaled)
    fit_one_step(model)
    scale = float(scaled.dynamic_scale.numpy())
    (unscaled,) = model._step_rule._combiner.to_global([tf.constant([scale])])
    np.testing.assert_allclose(unscaled.numpy(), [1.0])
