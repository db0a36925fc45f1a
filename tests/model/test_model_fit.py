"""GradSurgeryModel through `fit`, as users run it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from tiny_models import compile_model, make_domains, make_network
from trained_surgeries import EVERY_BUT_AGGREGATORS


def fit_model(name, steps=4, seed=1, **kwargs):
    model = keras_gs.GradSurgeryModel(
        make_network(), surgery=name, seed=seed, **kwargs
    )
    compile_model(model, keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = model.fit(
        keras_gs.data.zip_domains(make_domains(), 8, seed=0),
        steps_per_epoch=steps,
        epochs=1,
        verbose=0,
    )
    return model, history.history


# Fish, Fishr and IGA: tests/model/test_gradient_matching_fit.py.
@pytest.mark.parametrize("name", EVERY_BUT_AGGREGATORS)
def test_fit_save_load_every_surgery(name, tmp_path):
    model, logs = fit_model(name)
    expected = {
        "loss",
        "accuracy",
        "loss_0",
        "loss_1",
        "loss_2",
        "skipped_steps",
    }
    if not keras_gs.surgery.get(name).joint_batch:
        expected |= {"agreement", "cosine"}
    assert set(logs) == expected
    assert all(np.isfinite(v[-1]) for v in logs.values())
    np.testing.assert_allclose(
        logs["loss"][0],
        np.mean([logs[f"loss_{k}"][0] for k in range(3)]),
        rtol=1e-5,
    )
    if "agreement" in logs:
        assert 0.0 < logs["agreement"][0] < 1.0
        assert -1.0 <= logs["cosine"][0] <= 1.0

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored.surgery) is type(model.surgery)
    assert restored.num_domains == 3 and restored.seed == model.seed
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), restored.predict(x, verbose=0)
    )


def six_batches():
    dataset = keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0)
    return list(dataset.take(6).as_numpy_iterator())


def fresh_model(name="agr-sum"):
    model = keras_gs.GradSurgeryModel(make_network(), surgery=name, seed=1)
    return compile_model(
        model, keras.optimizers.Adam(1e-2), metrics=["accuracy"]
    )


def test_fit_moves_weights_and_metrics_are_epoch_averages():
    batches = six_batches()
    model = fresh_model()
    before = [w.numpy() for w in model.trainable_weights]
    logs = model.fit(
        tf.data.Dataset.from_tensor_slices(
            tuple(np.stack(t) for t in zip(*batches))
        ),
        verbose=0,
    ).history
    # The same six steps one at a time: each step's own metrics.
    stepwise = fresh_model()
    steps = [
        stepwise.train_on_batch(x, y, return_dict=True) for x, y in batches
    ]
    for a, b in zip(model.trainable_weights, stepwise.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert all(
        np.abs(a.numpy() - b).max() > 1e-3
        for a, b in zip(model.trainable_weights, before)
    )
    for key in ("loss", "accuracy", "loss_0", "agreement", "cosine"):
        per_step = [s[key] for s in steps]
        np.testing.assert_allclose(
            logs[key][0], np.mean(per_step), rtol=1e-5, err_msg=key
        )
        # Not the last step's value: the steps differ.
        assert np.ptp(per_step) > 1e-3, key
    assert logs["skipped_steps"] == [0.0]


def bn_dropout_free_network():
    keras.utils.set_random_seed(6)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )


def test_erm_is_plain_keras_on_the_concatenated_batch():
    # ERM takes one pass over all domains' examples (BatchNorm sees them
    # mixed): a plain Keras model trained on the same concatenated batches
    # must end with the same weights and moving statistics.
    batches = six_batches()
    model = keras_gs.GradSurgeryModel(bn_dropout_free_network(), "erm")
    compile_model(model, keras.optimizers.Adam(1e-2))
    plain = bn_dropout_free_network()
    compile_model(plain, keras.optimizers.Adam(1e-2))
    for x, y in batches:
        model.train_on_batch(x, y)
        plain.train_on_batch(x.reshape(-1, 4), y.reshape(-1))
    for a, b in zip(model.network.weights, plain.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_evaluate_and_validation_take_ordinary_batches():
    model, _ = fit_model("pcgrad")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    results = model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert set(results) == {"loss", "accuracy"}
    history = model.fit(
        keras_gs.data.zip_domains(make_domains(), 8),
        steps_per_epoch=2,
        validation_data=(x, y),
        verbose=0,
    )
    assert {"val_loss", "val_accuracy"} <= set(history.history)
    assert "val_agreement" not in history.history


def test_agr_rand_is_reproducible_from_the_seed():
    first, _ = fit_model("agr-rand")
    second, _ = fit_model("agr-rand")
    other, _ = fit_model("agr-rand", seed=2)
    # oneDNN's threaded kernels may differ in the last bits between runs
    # (seen: 2e-9); other noise moves the weights by ~1e-2 (Adam, lr 1e-2).
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-7)
    assert max(
        np.abs(a.numpy() - c.numpy()).max()
        for a, c in zip(first.weights, other.weights)
    ) > 1e-3


def test_jit_compile_is_off_on_cpu():
    model, _ = fit_model("agr-sum", steps=1)
    assert model.jit_compile is False


def test_unknown_surgery_is_named():
    with pytest.raises(
        ValueError, match=r"Received: surgery='agrsum'. Valid: agr-rand, agr-sum"
    ):
        keras_gs.GradSurgeryModel(make_network(), surgery="agrsum")


def test_training_data_without_the_domain_axis():
    model = compile_model(keras_gs.GradSurgeryModel(make_network()))
    flat = make_domains()[0].batch(8)
    with pytest.raises(
        ValueError, match=r"no domain axis.*\(batch, num_domains"
    ):
        model.fit(flat, verbose=0)


def test_domain_count_that_differs_from_the_model():
    model = compile_model(
        keras_gs.GradSurgeryModel(make_network(), num_domains=2)
    )
    with pytest.raises(ValueError, match="3 domains.*num_domains=2"):
        model.fit(
            keras_gs.data.zip_domains(make_domains(3), 4),
            steps_per_epoch=1,
            verbose=0,
        )


def test_domain_count_that_differs_between_fits():
    model, _ = fit_model("sum", steps=1)
    with pytest.raises(ValueError, match="2 domains.*num_domains=3"):
        model.fit(
            keras_gs.data.zip_domains(make_domains(2), 4),
            steps_per_epoch=1,
            verbose=0,
        )


def test_domain_axis_that_x_and_y_disagree_on():
    x = np.zeros((8, 3, 4), "float32")
    y = np.zeros((8, 2), "int32")
    model = compile_model(keras_gs.GradSurgeryModel(make_network()))
    with pytest.raises(ValueError, match="differs between x and y"):
        model.fit(x, y, verbose=0)


def test_fit_on_arrays_with_the_domain_axis():
    x = np.random.default_rng(0).normal(size=(16, 3, 4)).astype("float32")
    y = (x[..., 0] > 0).astype("int32")
    model = compile_model(
        keras_gs.GradSurgeryModel(make_network(), surgery="agr-sum")
    )
    history = model.fit(x, y, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_domain_count_that_differs_between_steps():
    # Steps of 3 then 2 domains: the dataset's domain axis is unknown.
    def steps():
        for k in (3, 2):
            yield np.zeros((4, k, 4), "float32"), np.zeros((4, k), "int32")

    ragged = tf.data.Dataset.from_generator(
        steps,
        output_signature=(
            tf.TensorSpec((4, None, 4), tf.float32),
            tf.TensorSpec((4, None), tf.int32),
        ),
    )
    model = compile_model(keras_gs.GradSurgeryModel(make_network()))
    with pytest.raises(ValueError, match="axis 1 \\(domains\\).*unknown"):
        model.fit(ragged, verbose=0)
