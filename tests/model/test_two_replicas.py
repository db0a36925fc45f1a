"""Under MirroredStrategy with 2 replicas a step equals the one-device step
on the same global batch (METHOD.md §5), through `fit` on a dataset."""

import keras
import numpy as np
import pytest

import keras_gs
from tiny_models import compile_model, make_domains
from trained_surgeries import EVERY_BUT_AGGREGATORS

# Fish, Fishr and IGA: tests/model/test_gradient_matching_fit.py.
DETERMINISTIC = [
    n for n in EVERY_BUT_AGGREGATORS if not keras_gs.surgery.get(n).random
]


def regularized_network():
    # A weight regularizer set at construction: set on a built layer it
    # would create no loss at all.
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8,
                activation="relu",
                kernel_regularizer=keras.regularizers.L2(1e-2),
            ),
            keras.layers.Dense(2),
        ]
    )


def train(strategy, name, seed=1, steps=3, network=None, optimizer=None):
    with strategy.scope():
        net = (network or regularized_network)()
        model = keras_gs.GradSurgeryModel(
            net, surgery=name, seed=seed, coupled_l2=1e-3
        )
        compile_model(model, optimizer or keras.optimizers.SGD(0.1))
    before = [w.numpy() for w in model.trainable_weights]
    history = model.fit(
        keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
        steps_per_epoch=steps,
        verbose=0,
    )
    after = [w.numpy() for w in model.trainable_weights]
    return before, after, history.history


@pytest.mark.parametrize("name", DETERMINISTIC + ["pcgrad", "agr-rand"])
def test_two_replicas_equal_one_device(name, one_device, two_replicas):
    _, single, single_logs = train(one_device, name)
    _, mirrored, mirrored_logs = train(two_replicas, name)
    # A weight regularizer and coupled L2: both must be counted once, from
    # the global batch.
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Reported losses are unscaled (not loss / R).
    for key in single_logs:
        np.testing.assert_allclose(
            single_logs[key], mirrored_logs[key], rtol=1e-5, atol=1e-6
        )


def test_the_regularizer_is_real():
    net = regularized_network()
    assert net.layers[0].kernel.regularizer is not None
    assert len(net.losses) == 1


def wide_network():
    keras.utils.set_random_seed(5)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2048), keras.layers.Dense(2)]
    )


def first_kernel_step(strategy, seed):
    before, after, _ = train(
        strategy,
        "agr-rand",
        seed=seed,
        steps=1,
        network=wide_network,
        optimizer=keras.optimizers.SGD(1.0),
    )
    return after[0] - before[0]


def test_agr_rand_noise_std_is_the_same_under_two_replicas(
    one_device, two_replicas
):
    # Components that differ between two seeds are the noise components;
    # if replicas drew different noise, the summed update would average
    # them and the std would shrink by sqrt(2).
    step_a = first_kernel_step(one_device, seed=11)
    step_b = first_kernel_step(one_device, seed=12)
    step_mirrored = first_kernel_step(two_replicas, seed=13)
    noise = np.abs(step_a - step_b) > 1e-7
    assert noise.sum() > 2000
    ratio = step_mirrored[noise].std() / step_a[noise].std()
    assert abs(ratio - 1.0) < 0.05, ratio


def activity_network():
    # ERM's per-domain losses observe the activity regularizer's calls.
    keras.utils.set_random_seed(8)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8, activity_regularizer=keras.regularizers.L2(1e-2)
            ),
            keras.layers.Dense(2),
        ]
    )


def batchnorm_network():
    # Joint BatchNorm statistics observe the layer's batch moments;
    # synchronized, so that batch statistics are the global batch's as on
    # one device. (With both an activity regularizer and synchronized
    # BatchNorm, plain Keras itself differs between 1 and 2 replicas.)
    keras.utils.set_random_seed(8)
    return keras.Sequential(
        [
            keras.Input((4,)),
            # No bias before BatchNorm: its gradient is zero up to rounding,
            # and the sign of rounding noise is not the same on 1 and 2
            # replicas (agreement would differ).
            keras.layers.Dense(8, use_bias=False),
            keras.layers.BatchNormalization(synchronized=True),
            keras.layers.Dense(2),
        ]
    )


@pytest.mark.parametrize("network", [activity_network, batchnorm_network])
@pytest.mark.parametrize("name", ["erm", "agr-sum"])
def test_observed_layers_under_two_replicas_equal_one_device(
    name, network, one_device, two_replicas
):
    # Every replica's step is traced in its own thread on the same layers.
    _, single, single_logs = train(one_device, name, network=network)
    _, mirrored, mirrored_logs = train(two_replicas, name, network=network)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in single_logs:
        np.testing.assert_allclose(
            single_logs[key],
            mirrored_logs[key],
            rtol=1e-5,
            atol=1e-6,
            err_msg=key,
        )


def test_several_steps_per_execution_run_one_by_one_with_replicas(
    one_device, two_replicas
):
    # Keras's multi-step tf.while_loop fails around a cross-replica tf.cond
    # with 2 replicas; the model runs one step per execution there, with
    # the same result as several steps per execution on one device.
    def fit(strategy):
        with strategy.scope():
            model = keras_gs.GradSurgeryModel(
                regularized_network(), surgery="agr-sum", seed=1
            )
            model.compile(
                optimizer=keras.optimizers.Adam(0.01),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True
                ),
                steps_per_execution=4,
            )
        model.fit(
            keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
            steps_per_epoch=8,
            verbose=0,
        )
        return model

    single = fit(one_device)
    assert single.steps_per_execution == 4
    with pytest.warns(UserWarning, match="steps_per_execution=4 runs as 1"):
        mirrored = fit(two_replicas)
    assert mirrored.steps_per_execution == 1
    assert int(mirrored.optimizer.iterations.numpy()) == 8
    for a, b in zip(single.trainable_weights, mirrored.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
