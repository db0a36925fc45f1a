"""The fused gradient arithmetic: XLA, streaming and conflict_every give the
results of the plain computation."""

import keras
import numpy as np
import pytest

import keras_gs
from tiny_models import compile_model, make_domains, make_network
from trained_surgeries import EVERY_BUT_AGGREGATORS

STREAMING = [
    n for n in keras_gs.surgery.names() if keras_gs.surgery.get(n).streams
]


def fit(name, steps=3, strategy=None, **kwargs):
    import tensorflow as tf

    with (strategy or tf.distribute.get_strategy()).scope():
        model = keras_gs.GradSurgeryModel(
            make_network(), surgery=name, seed=1, **kwargs
        )
        compile_model(model, keras.optimizers.SGD(0.1))
    history = model.fit(
        keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
        steps_per_epoch=steps,
        verbose=0,
    ).history
    return [w.numpy() for w in model.weights], history


def assert_same(first, second, atol=1e-6):
    (weights_a, logs_a), (weights_b, logs_b) = first, second
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_allclose(a, b, atol=atol)
    assert set(logs_a) == set(logs_b)
    for key in logs_a:
        np.testing.assert_allclose(
            logs_a[key], logs_b[key], rtol=1e-5, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize("name", EVERY_BUT_AGGREGATORS)
def test_xla_compiled_arithmetic_equals_the_plain_one(name):
    assert_same(fit(name, jit_surgery=True), fit(name, jit_surgery=False))


def test_streamable_surgeries():
    assert set(STREAMING) == {"sum", "mean", "agr-sum", "and-mask", "erm",
                              "deep-all"}


@pytest.mark.parametrize("name", STREAMING)
def test_streaming_equals_all_domains_at_once(name):
    assert_same(fit(name, streaming=True), fit(name), atol=1e-7)


@pytest.mark.parametrize("name", ["agr-sum", "mean"])
def test_streaming_under_two_replicas_equals_one_device(
    name, one_device, two_replicas
):
    assert_same(
        fit(name, streaming=True, strategy=two_replicas),
        fit(name, strategy=one_device),
        atol=1e-5,
    )


def test_a_surgery_that_cannot_stream_is_refused():
    with pytest.raises(
        ValueError, match=r"'pcgrad' cannot stream.*Surgeries that stream: \["
    ):
        keras_gs.GradSurgeryModel(
            make_network(), surgery="pcgrad", streaming=True
        )


def test_conflict_every_averages_over_the_measured_steps():
    # conflict_every=2 over 4 steps measures steps 0 and 2 only; the
    # weights do not depend on it.
    every_step = keras_gs.GradSurgeryModel(make_network(), "agr-sum", seed=1)
    compile_model(every_step, keras.optimizers.SGD(0.1))
    batches = list(
        keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0)
        .take(4)
        .as_numpy_iterator()
    )
    per_step = [
        every_step.train_on_batch(x, y, return_dict=True) for x, y in batches
    ]
    weights, logs = fit("agr-sum", steps=4, conflict_every=2)
    for a, b in zip(weights, every_step.weights):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6)
    for key in ("agreement", "cosine"):
        expected = np.mean([per_step[0][key], per_step[2][key]])
        np.testing.assert_allclose(logs[key], [expected], rtol=1e-5)
        assert not np.isclose(
            expected, np.mean([s[key] for s in per_step]), rtol=1e-4
        )


@pytest.mark.parametrize("streaming", [False, True])
def test_conflict_every_with_streaming(streaming):
    _, logs = fit("mean", steps=4, conflict_every=3, streaming=streaming)
    assert 0.0 < logs["agreement"][0] < 1.0


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="conflict_every=0"):
        keras_gs.GradSurgeryModel(make_network(), conflict_every=0)
    with pytest.raises(ValueError, match="jit_surgery='yes'"):
        keras_gs.GradSurgeryModel(make_network(), jit_surgery="yes")
