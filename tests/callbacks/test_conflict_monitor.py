"""ConflictMonitor: per-layer conflict measures in TensorBoard, by hand.

Network: "first" = Dense(1, no bias, kernel [1, 1]), "second" = Dense(1,
kernel w = 1, bias c = 0); squared error; one example per domain; 2 domains.
out = w * (k . x) + c, e = dL/dout = 2 (out - y):
    d first  = e * w * x      d second = (e * (k . x), e)
Domain A: x = [1, 1], y = 0: out 2, e 4: first [4, 4], second [8, 4].
Domain B: x = [-1, -1], out -2:
  y = 0:  e = -4: first [4, 4] (all agree), second [8, -4] (half agree)
  y = -4: e = 4:  first [-4, -4] (none agrees), second [-8, 4] (half)
"""

import glob
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from tiny_models import compile_model, make_domains, make_network


def network():
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1, use_bias=False, kernel_initializer="ones", name="first"
            ),
            keras.layers.Dense(1, kernel_initializer="ones", name="second"),
        ],
        name="net",
    )


def monitored(y_b, tmp_path, surgery="agr-sum"):
    model = keras_gs.GradSurgeryModel(network(), surgery=surgery, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[[1.0, 1.0], [-1.0, -1.0]]], "float32")
    y = np.array([[[0.0], [y_b]]], "float32")
    monitor = keras_gs.callbacks.ConflictMonitor(tmp_path, every_n_steps=1)
    model.fit(x, y, callbacks=[monitor], verbose=0)
    return read_events(tmp_path)


def read_events(log_dir):
    values = {}
    for path in glob.glob(f"{log_dir}/conflicts/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values[(event.step, value.tag)] = tf.make_ndarray(value.tensor)
    return values


def test_layers_that_all_agree_and_half_agree_by_hand(tmp_path):
    values = monitored(0.0, tmp_path)
    expected = {
        "conflicts/first/agreement": 1.0,
        "conflicts/first/cosine": 1.0,
        "conflicts/first/replaced": 0.0,
        "conflicts/first/norm_0": 4 * math.sqrt(2),
        "conflicts/first/norm_1": 4 * math.sqrt(2),
        "conflicts/second/agreement": 0.5,
        # (8 * 8 - 4 * 4) / (sqrt(80) * sqrt(80)) = 48 / 80
        "conflicts/second/cosine": 0.6,
        "conflicts/second/replaced": 0.5,
        "conflicts/second/norm_0": math.sqrt(80),
        "conflicts/second/norm_1": math.sqrt(80),
    }
    for tag, value in expected.items():
        np.testing.assert_allclose(values[(0, tag)], value, rtol=1e-6, err_msg=tag)
    # |sum_k sign|: first has 2 components at 2; second one at 2, one at 0.
    first = values[(0, "conflicts/first/sign_agreement")]
    np.testing.assert_array_equal(first[:, 2], [0, 0, 2])
    np.testing.assert_array_equal(first[:, :2], [[-0.5, 0.5], [0.5, 1.5], [1.5, 2.5]])
    second = values[(0, "conflicts/second/sign_agreement")]
    np.testing.assert_array_equal(second[:, 2], [1, 0, 1])


def test_a_layer_where_no_component_agrees_by_hand(tmp_path):
    values = monitored(-4.0, tmp_path)
    np.testing.assert_allclose(values[(0, "conflicts/first/agreement")], 0.0)
    np.testing.assert_allclose(values[(0, "conflicts/first/cosine")], -1.0, rtol=1e-6)
    np.testing.assert_allclose(values[(0, "conflicts/first/replaced")], 1.0)
    np.testing.assert_allclose(values[(0, "conflicts/second/cosine")], -0.6, rtol=1e-6)


def test_replaced_is_zero_for_a_surgery_that_masks_nothing(tmp_path):
    values = monitored(-4.0, tmp_path, surgery="sum")
    np.testing.assert_allclose(values[(0, "conflicts/first/replaced")], 0.0)
    np.testing.assert_allclose(values[(0, "conflicts/first/agreement")], 0.0)


def fit_monitored(strategy, log_dir, steps=4, every=2):
    with strategy.scope():
        model = keras_gs.GradSurgeryModel(make_network(), "pcgrad", seed=1)
        compile_model(model)
    monitor = keras_gs.callbacks.ConflictMonitor(log_dir, every_n_steps=every)
    model.fit(
        keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
        steps_per_epoch=steps,
        callbacks=[monitor],
        verbose=0,
    )
    return read_events(log_dir)


def test_logs_every_n_steps_from_the_global_gradients(
    tmp_path, one_device, two_replicas
):
    single = fit_monitored(one_device, tmp_path / "one")
    mirrored = fit_monitored(two_replicas, tmp_path / "two")
    assert {step for step, _ in single} == {0, 2}
    tags = {tag for _, tag in single}
    layers = {tag.split("/")[1] for tag in tags}
    assert layers == {"hidden", "logits"}
    assert len(tags) == 2 * (3 + 3 + 1)  # 3 scalars, 3 norms, 1 histogram
    assert set(single) == set(mirrored)
    for key in single:
        np.testing.assert_allclose(
            single[key], mirrored[key], rtol=1e-5, atol=1e-6, err_msg=str(key)
        )


def test_erm_has_nothing_to_compare(tmp_path):
    model = keras_gs.GradSurgeryModel(make_network(), "erm")
    compile_model(model)
    model.fit(
        keras_gs.data.zip_domains(make_domains(), 4),
        steps_per_epoch=2,
        callbacks=[keras_gs.callbacks.ConflictMonitor(tmp_path, 1)],
        verbose=0,
    )
    assert read_events(tmp_path) == {}


def test_streaming_and_bad_arguments_are_refused(tmp_path):
    model = keras_gs.GradSurgeryModel(make_network(), "sum", streaming=True)
    compile_model(model)
    with pytest.raises(ValueError, match="streaming=False"):
        model.fit(
            keras_gs.data.zip_domains(make_domains(), 4),
            steps_per_epoch=1,
            callbacks=[keras_gs.callbacks.ConflictMonitor(tmp_path, 1)],
            verbose=0,
        )
    with pytest.raises(ValueError, match="every_n_steps=0"):
        keras_gs.callbacks.ConflictMonitor(tmp_path, 0)
    with pytest.raises(ValueError, match="GradSurgeryModel"):
        keras_gs.callbacks.ConflictMonitor(tmp_path).set_model(make_network())


def test_a_new_monitor_on_a_trained_model_keeps_its_step(tmp_path):
    # tools/train.py gives every run a new monitor on a reused model: the
    # traced step stays, and no step of the earlier fit is written again.
    model = keras_gs.GradSurgeryModel(make_network(), "agr-sum", seed=0)
    compile_model(model)
    data = keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0)
    logged = []
    for run in ("first", "second"):
        model.fit(
            data,
            steps_per_epoch=3 if run == "first" else 1,
            callbacks=[
                keras_gs.callbacks.ConflictMonitor(tmp_path / run, 2)
            ],
            verbose=0,
        )
        logged.append({step for step, _ in read_events(tmp_path / run)})
        if run == "first":
            traced = model.train_function
    assert model.train_function is traced
    # Steps 0 and 2 in the first fit; the second fit's step 3 logs nothing.
    assert logged == [{0, 2}, set()]
