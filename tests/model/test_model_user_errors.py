"""A GradSurgeryModel used as a Keras user would: reloaded, given an
unbuilt network, asked for a validation split."""

import keras
import numpy as np
import pytest

import keras_gs
from tiny_models import compile_model, make_domains, make_network


def model(network=None):
    return compile_model(
        keras_gs.GradSurgeryModel(network or make_network(), "pcgrad", seed=3),
        optimizer=keras.optimizers.Adam(0.01),
        metrics=["accuracy"],
    )


def train(start):
    # Drawn by step: a stream started at `start` goes on where one that
    # trained `start` steps stopped.
    return keras_gs.data.zip_domains(make_domains(), 4, seed=0, start_step=start)


def test_fit_save_load_fit_equals_fit(tmp_path):
    straight = model()
    straight.fit(train(0), steps_per_epoch=6, verbose=0)
    first = model()
    first.fit(train(0), steps_per_epoch=3, verbose=0)
    first.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    # Compiled from its file, with its optimizer state.
    assert int(reloaded.optimizer.iterations.numpy()) == 3
    reloaded.fit(train(3), steps_per_epoch=3, verbose=0)
    for a, b in zip(straight.weights, reloaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    loss, accuracy = reloaded.evaluate(x, np.zeros(6, "int32"), verbose=0)
    assert np.isfinite(loss) and 0 <= accuracy <= 1


@pytest.mark.parametrize(
    "network",
    [
        lambda: keras.Sequential(
            [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
        ),
        lambda: keras.layers.Dense(2),
    ],
    ids=["sequential_without_input", "bare_layer"],
)
def test_an_unbuilt_network_is_built_from_the_first_batch(network):
    trained = model(network())
    trained.fit(train(0), steps_per_epoch=2, verbose=0)
    assert int(trained.optimizer.iterations.numpy()) == 2
    assert trained.network.built and trained.trainable_variables


def test_validation_split_of_domain_axis_batches_is_refused():
    x = np.zeros((8, 3, 4), "float32")
    y = np.zeros((8, 3), "int32")
    with pytest.raises(
        ValueError, match=r"validation_split=0.25.*validation_data=\(x, y\)"
    ):
        model().fit(x, y, validation_split=0.25, verbose=0)


def test_conflict_monitor_on_erm_says_it_logs_nothing(tmp_path):
    erm = compile_model(keras_gs.GradSurgeryModel(make_network(), "erm"))
    with pytest.warns(UserWarning, match="'erm' has no domain gradients"):
        erm.fit(
            train(0),
            steps_per_epoch=1,
            verbose=0,
            callbacks=[keras_gs.callbacks.ConflictMonitor(tmp_path, 1)],
        )
    assert not (tmp_path / "conflicts").exists()


def test_evaluate_and_predict_before_any_fit():
    # Built without num_domains, weights loaded, then evaluated: no
    # training state is needed.
    trained = model()
    fresh = model()
    fresh.set_weights(trained.get_weights())
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    loss, accuracy = fresh.evaluate(x, np.zeros(5, "int32"), verbose=0)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert fresh.predict(x, verbose=0).shape == (5, 2)
