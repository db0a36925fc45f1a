"""What `fit` reports when steps are skipped (issue 31, items 1 and 2).

Through `fit`, with and without `validation_data`: the epoch logs that
callbacks and `History` get count the skipped steps (Keras's validation
`evaluate` resets the metrics after the epoch logs are read, and used to
reset the count they held), and an epoch whose every step was skipped
reports NaN, not the 0.0 of an empty mean, with one warning.
"""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from tiny_models import compile_model, make_network


def batches(nan_in):
    """Three (8 examples, 3 domains, 4 features) steps; NaN inputs in the
    steps `nan_in` (one example of domain 1)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 3, 4)).astype("float32")
    y = (x[..., 0] > 0).astype("int32")
    for step in nan_in:
        x[step, 0, 1, 0] = np.nan
    return tf.data.Dataset.from_tensor_slices((x, y))


VALIDATION = (
    np.random.default_rng(1).normal(size=(8, 4)).astype("float32"),
    np.zeros(8, "int32"),
)


class EpochLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))


@pytest.fixture(scope="module")
def model():
    """One model for every test: its step traced once (the tests' inputs
    all have the same shapes)."""
    model = keras_gs.GradSurgeryModel(make_network(), surgery="agr-sum")
    compile_model(model, keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    return model


def fit(model, nan_in, validation_data):
    seen = EpochLogs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            batches(nan_in),
            epochs=2,
            validation_data=validation_data,
            callbacks=[seen],
            verbose=0,
        )
    skipped_warnings = [
        w for w in caught if "every step since the metrics" in str(w.message)
    ]
    return history.history, seen.logs, skipped_warnings


@pytest.mark.parametrize("validation", [False, True])
def test_epoch_logs_count_the_skipped_steps(model, validation):
    history, epoch_logs, warned = fit(
        model,
        nan_in=[1], validation_data=VALIDATION if validation else None
    )
    # One of three steps skipped, in each of the two epochs.
    assert history["skipped_steps"] == [1.0, 1.0]
    assert [logs["skipped_steps"] for logs in epoch_logs] == [1.0, 1.0]
    assert ("val_loss" in history) == validation
    assert all(math.isfinite(v) for v in history["loss"])
    assert not warned


@pytest.mark.parametrize("validation", [False, True])
def test_an_epoch_of_skipped_steps_reports_nan(model, validation):
    history, epoch_logs, warned = fit(
        model,
        nan_in=[0, 1, 2], validation_data=VALIDATION if validation else None
    )
    assert history["skipped_steps"] == [3.0, 3.0]
    for name in ("loss", "accuracy", "loss_0", "loss_1", "loss_2"):
        assert all(math.isnan(v) for v in history[name]), name
        assert all(math.isnan(logs[name]) for logs in epoch_logs), name
    if validation:
        # The validation of the (untrained) model is measured as usual.
        assert all(math.isfinite(v) for v in history["val_loss"])
    # Said, at each epoch's end (the step itself is traced, not eager).
    assert len(warned) == 2
