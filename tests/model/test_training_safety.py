"""Non-finite steps, mixed precision, BatchNorm and regularization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from tiny_models import compile_model, make_domains, make_network


def batches(with_nan):
    """Three (batch, 3 domains, 4) steps; the middle one optionally NaN."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 3, 4)).astype("float32")
    y = (x[..., 0] > 0).astype("int32")
    if with_nan:
        x[1, 0, 1, 0] = np.nan
        return tf.data.Dataset.from_tensor_slices((x, y))
    return tf.data.Dataset.from_tensor_slices((x[[0, 2]], y[[0, 2]]))


@pytest.mark.parametrize("strategy_name", ["one_device", "two_replicas"])
def test_non_finite_step_is_skipped_and_counted(strategy_name, request):
    strategy = request.getfixturevalue(strategy_name)
    results = []
    for with_nan in (True, False):
        with strategy.scope():
            model = keras_gs.GradSurgeryModel(make_network(), surgery="agr-sum")
            compile_model(
                model, keras.optimizers.Adam(1e-2), metrics=["accuracy"]
            )
        history = model.fit(batches(with_nan), verbose=0)
        results.append((model, history.history))
    (skipped, skipped_logs), (clean, clean_logs) = results
    assert skipped_logs["skipped_steps"] == [1.0]
    assert clean_logs["skipped_steps"] == [0.0]
    assert int(skipped.optimizer.iterations.numpy()) == 2
    for a, b in zip(skipped.weights, clean.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # Epoch averages cover the applied steps only: the loss trackers and
    # the compiled metrics alike (accuracy over 48 examples, not 72).
    for key in ("loss", "loss_0", "accuracy", "agreement", "cosine"):
        np.testing.assert_allclose(
            skipped_logs[key], clean_logs[key], rtol=1e-5, err_msg=key
        )
    assert clean_logs["accuracy"][0] * 48 == pytest.approx(
        round(clean_logs["accuracy"][0] * 48)
    )


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def one_sgd_step(name):
    model = keras_gs.GradSurgeryModel(make_network(), surgery=name, seed=2)
    compile_model(model, keras.optimizers.SGD(0.1))
    before = [w.numpy() for w in model.trainable_weights]
    history = model.fit(
        keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
        steps_per_epoch=1,
        verbose=0,
    )
    after = [w.numpy() for w in model.trainable_weights]
    return model, [a - b for a, b in zip(after, before)], history.history


def test_mixed_precision_removes_the_loss_scale_before_surgery(mixed_precision):
    model, mixed_step, logs = one_sgd_step("agr-rand")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.network.layers[0].compute_dtype == "float16"
    keras.mixed_precision.set_dtype_policy("float32")
    _, full_step, _ = one_sgd_step("agr-rand")
    # Had the surgery seen scaled gradients (x 32768), Agr-Rand's noise and
    # the step would be that much larger.
    for m, f in zip(mixed_step, full_step):
        np.testing.assert_allclose(m, f, atol=2e-3, rtol=2e-2)
    assert logs["skipped_steps"] == [0.0]
    assert np.isfinite(logs["loss"][0])


def bn_network():
    keras.utils.set_random_seed(4)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_batchnorm_keeps_moving_statistics(freeze):
    model = keras_gs.GradSurgeryModel(
        bn_network(), surgery="agr-sum", freeze_batchnorm=freeze
    )
    compile_model(model)
    bn = model.network.layers[1]
    before = [bn.moving_mean.numpy(), bn.moving_variance.numpy()]
    model.fit(
        keras_gs.data.zip_domains(make_domains(), 8),
        steps_per_epoch=2,
        verbose=0,
    )
    unchanged = all(
        np.array_equal(a, b.numpy())
        for a, b in zip(before, [bn.moving_mean, bn.moving_variance])
    )
    assert unchanged == freeze


def disagreeing_model(surgery="agr-sum", **kwargs):
    """One weight vector whose two domain gradients disagree everywhere.

    x = [1, 1] for both domains, w = [.5, .5], squared error against
    y = +10 (domain 0) and -10 (domain 1): gradients 2(1 - 10) = -18 and
    2(1 + 10) = 22 per component, so Agr-Sum masks them all.
    """
    layer_kwargs = kwargs.pop("layer_kwargs", {})
    net = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(0.5),
                **layer_kwargs,
            ),
        ]
    )
    model = keras_gs.GradSurgeryModel(net, surgery=surgery, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.ones((1, 2, 2), "float32")
    y = np.array([[[10.0], [-10.0]]], "float32")
    model.fit(x, y, verbose=0)
    return model.network.layers[0].kernel.numpy().ravel()


def test_coupled_l2_is_added_after_surgery_unmasked():
    # Update = 0 (masked) + 0.1 * w = 0.05: w = 0.5 - 0.05.
    np.testing.assert_allclose(
        disagreeing_model(coupled_l2=0.1), [0.45, 0.45], rtol=1e-6
    )
    np.testing.assert_allclose(disagreeing_model(), [0.5, 0.5])


def test_weight_regularizer_counts_once_after_surgery():
    # L2(0.1) adds 0.1 * sum(w^2): gradient 0.2 * w = 0.1 per component.
    kernel = disagreeing_model(
        layer_kwargs={"kernel_regularizer": keras.regularizers.L2(0.1)}
    )
    np.testing.assert_allclose(kernel, [0.4, 0.4], rtol=1e-6)


def test_weight_regularizer_counts_once_with_sum_by_hand():
    # sum: -18 + 22 = 4 per component; L2(0.1): + 0.2 * 0.5 = 0.1, once.
    # w = 0.5 - 4.1 = -3.6 (counted in each domain's loss too: -3.7).
    kernel = disagreeing_model(
        surgery="sum",
        layer_kwargs={"kernel_regularizer": keras.regularizers.L2(0.1)},
    )
    np.testing.assert_allclose(kernel, [-3.6, -3.6], rtol=1e-6)


def weighted_step(surgery):
    """One SGD(1) step on a weighted batch; returns kernel and logs.

    Kernel [.5, .5], x = [1, 1] (prediction 1), squared error, two examples
    per domain:
        domain 0: y = [10, 0],  weights [1, 0]
        domain 1: y = [-10, 4], weights [1, 1]
    Keras divides the weighted sum by the number of examples (2), so the
    gradient per component is (2 (1 - 10) + 0) / 2 = -9 for domain 0 and
    (2 (1 + 10) + 2 (1 - 4)) / 2 = 8 for domain 1; the losses are
    81 / 2 = 40.5 and (121 + 9) / 2 = 65.
    """
    net = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(0.5),
            ),
        ]
    )
    model = keras_gs.GradSurgeryModel(net, surgery=surgery)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.ones((2, 2, 2), "float32")
    y = np.array([[[10.0], [-10.0]], [[0.0], [4.0]]], "float32")
    weights = np.array([[1.0, 1.0], [0.0, 1.0]], "float32")
    logs = model.fit(x, y, sample_weight=weights, verbose=0).history
    return net.layers[0].kernel.numpy().ravel(), logs


def test_sample_weight_in_a_per_domain_surgery_by_hand():
    # sum: -9 + 8 = -1: w = 0.5 + 1 (unweighted, -8 + 8 = 0: w = 0.5).
    kernel, logs = weighted_step("sum")
    np.testing.assert_allclose(kernel, [1.5, 1.5], rtol=1e-6)
    np.testing.assert_allclose(logs["loss_0"], [40.5], rtol=1e-6)
    np.testing.assert_allclose(logs["loss_1"], [65.0], rtol=1e-6)


def test_sample_weight_in_erm_by_hand():
    # One pass over the 4 examples: (-18 + 0 + 22 - 6) / 4 = -0.5.
    kernel, logs = weighted_step("erm")
    np.testing.assert_allclose(kernel, [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(logs["loss_0"], [40.5], rtol=1e-6)
    np.testing.assert_allclose(logs["loss_1"], [65.0], rtol=1e-6)
    np.testing.assert_allclose(logs["loss"], [52.75], rtol=1e-6)


@pytest.mark.parametrize("surgery", ["erm", "sum"])
def test_domain_losses_include_activity_regularization_by_hand(surgery):
    # Kernel [.5, .5]; domain 0: x = [1, 1], y = 3: prediction 1, squared
    # error 4, activity L2(0.1) 0.1 * 1^2 = 0.1, loss 4.1; domain 1:
    # x = [2, 2], y = 0: prediction 2, error 4, activity 0.4, loss 4.4.
    net = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(0.5),
                activity_regularizer=keras.regularizers.L2(0.1),
            ),
        ]
    )
    model = keras_gs.GradSurgeryModel(net, surgery=surgery)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[[1.0, 1.0], [2.0, 2.0]]], "float32")
    y = np.array([[[3.0], [0.0]]], "float32")
    logs = model.fit(x, y, verbose=0).history
    np.testing.assert_allclose(logs["loss_0"], [4.1], rtol=1e-6)
    np.testing.assert_allclose(logs["loss_1"], [4.4], rtol=1e-6)
    np.testing.assert_allclose(logs["loss"], [4.25], rtol=1e-6)


def test_model_without_loss_is_reported():
    model = keras_gs.GradSurgeryModel(make_network())
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="compile\\(loss="):
        model.fit(
            keras_gs.data.zip_domains(make_domains(), 4),
            steps_per_epoch=1,
            verbose=0,
        )


@pytest.mark.parametrize("strategy_name", ["one_device", "two_replicas"])
def test_mixed_precision_non_finite_step_lowers_the_loss_scale(
    mixed_precision, strategy_name, request
):
    strategy = request.getfixturevalue(strategy_name)
    results = []
    for with_nan in (True, False):
        with strategy.scope():
            model = keras_gs.GradSurgeryModel(
                make_network(), surgery="agr-sum"
            )
            compile_model(model, keras.optimizers.SGD(0.1))
        logs = model.fit(batches(with_nan), verbose=0).history
        results.append((model, logs))
    (skipped, skipped_logs), (clean, _) = results
    assert skipped_logs["skipped_steps"] == [1.0]
    scale = float(skipped.optimizer.dynamic_scale.numpy())
    assert scale == float(clean.optimizer.dynamic_scale.numpy()) / 2
    # The step after the skip unscales by the new (halved) scale.
    for a, b in zip(skipped.trainable_weights, clean.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3)
