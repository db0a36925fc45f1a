"""Fish, Fishr and IGA through `fit`, `.keras` files, backups and two
replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from keras_gs.experiment.backup import RunBackup
from tiny_models import compile_model, make_domains, make_network

# Fishr's penalty on from the second step (index 1), so that two steps
# cover both phases and the optimizer's reset.
METHODS = {
    "fish": keras_gs.surgery.Fish(meta_lr=0.5),
    "fishr": keras_gs.surgery.Fishr(lambda_=10.0, penalty_anneal_iters=1, ema=0.9),
    "iga": keras_gs.surgery.IGA(penalty=10.0),
}


def regularized_network():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-2)
            ),
            keras.layers.Dense(2),
        ]
    )


def data():
    return keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0)


def fit(name, strategy, steps=2):
    with strategy.scope():
        model = keras_gs.GradSurgeryModel(
            regularized_network(), surgery=METHODS[name], seed=1, coupled_l2=1e-3
        )
        compile_model(model, keras.optimizers.Adam(0.05), metrics=["accuracy"])
    history = model.fit(data(), steps_per_epoch=steps, verbose=0)
    return model, history.history


def snapshot(model):
    return [v.numpy() for v in model.weights + model.step_variables]


@pytest.fixture(scope="module")
def trained(one_device):
    """Each method trained two steps on one device, its logs, and its
    weights and step state right after (later tests change the models)."""
    results = {}
    for name in METHODS:
        model, logs = fit(name, one_device)
        results[name] = model, logs, snapshot(model)
    return results


@pytest.mark.parametrize("name", sorted(METHODS))
def test_logs_and_state(name, trained):
    model, logs, _ = trained[name]
    expected = {"loss", "accuracy", "loss_0", "loss_1", "loss_2", "skipped_steps"}
    if name != "fish":
        expected.add("penalty")
    assert set(logs) == expected
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert logs["skipped_steps"] == [0.0]
    if name != "fish":
        assert logs["penalty"][0] > 0.0
    assert int(model.optimizer.iterations.numpy()) == 2
    # The step's state is the model's: in `model.variables`, not trained.
    ids = {id(v) for v in model.variables}
    assert all(id(v) in ids for v in model.step_variables)
    assert not {id(v) for v in model.step_variables} & {
        id(v) for v in model.trainable_variables
    }
    sizes = {"fish": 2 + 2 * 4, "fishr": 1, "iga": 0}
    assert len(model.step_variables) == sizes[name]


def test_fishr_resets_adam_when_the_penalty_switches_on(trained):
    # Reset at step 1: Adam's moments then hold that step's gradient g
    # alone: m = 0.1 g, v = 0.001 g^2, so m^2 / v = 10 wherever g != 0.
    # (Without the reset step 0's gradient would be in them too.)
    optimizer = trained["fishr"][0].optimizer
    moments = {v.path: v.numpy() for v in optimizer.variables}
    for path, m in moments.items():
        if path.endswith("_momentum"):
            v = moments[path.replace("_momentum", "_velocity")]
            nonzero = v > 1e-12
            assert nonzero.any()
            np.testing.assert_allclose(m[nonzero] ** 2 / v[nonzero], 10.0, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_keras_file_holds_the_step_state(
    name, trained, tmp_path
):
    model = trained[name][0]
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.surgery.get_config() == METHODS[name].get_config()
    # Everything the next step reads: weights, the optimizer's variables
    # (its step count among them) and the step's own.
    for a, b in zip(
        model.variables + model.optimizer.variables + model.step_variables,
        restored.variables + restored.optimizer.variables + restored.step_variables,
        strict=True,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(restored.optimizer.iterations.numpy()) == 2


def test_backup_restores_the_step_state(trained, tmp_path):
    model = trained["fish"][0]
    saved = [v.numpy() for v in model.step_variables]
    assert any(np.any(v) for v in saved[2:])  # Adam moments moved
    backups = RunBackup(tmp_path, model, {"steps": 2})
    backups.save(2, {"step": 2})
    for variable in model.step_variables:
        variable.assign(tf.zeros_like(variable))
    backups.restore()
    for variable, value in zip(model.step_variables, saved):
        np.testing.assert_array_equal(variable.numpy(), value)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_two_replicas_equal_one_device(name, trained, two_replicas):
    # A weight regularizer and coupled L2 (counted once, from the global
    # batch), Adam (Fishr's reset, Fish's inner state).
    _, single_logs, single = trained[name]
    mirrored, mirrored_logs = fit(name, two_replicas)
    for a, b in zip(single, snapshot(mirrored), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for key in single_logs:
        np.testing.assert_allclose(
            single_logs[key], mirrored_logs[key], rtol=1e-4, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize("name", ["fish", "fishr"])
def test_a_network_built_by_its_first_call(name):
    # No Input and no strategy: Keras builds the network inside the traced
    # step, and the step's state is created there.
    keras.utils.set_random_seed(3)
    network = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(2)])
    model = keras_gs.GradSurgeryModel(network, surgery=METHODS[name], seed=1)
    compile_model(model, keras.optimizers.Adam(0.05))
    logs = model.fit(data(), steps_per_epoch=2, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and model.step_variables


def test_fishr_needs_a_linear_dense_classifier():
    network = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax", name="probs")]
    )
    model = keras_gs.GradSurgeryModel(network, surgery="fishr")
    compile_model(model)
    with pytest.raises(ValueError, match=r"Dense without activation.*'probs'"):
        model.fit(data(), steps_per_epoch=1, verbose=0)


def test_fish_refuses_another_optimizer_after_training(trained):
    model = trained["fish"][0]
    compile_model(model, keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="compiled again with another optimizer"):
        model.fit(data(), steps_per_epoch=1, verbose=0)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_conflict_measures_are_refused_or_skipped(name, tmp_path):
    model = keras_gs.GradSurgeryModel(make_network(), surgery=name, num_domains=3)
    assert not model.measures_conflicts
    with pytest.raises(ValueError, match="streaming=True"):
        keras_gs.GradSurgeryModel(make_network(), surgery=name, streaming=True)
    with pytest.raises(ValueError, match=f"surgery='{name}'"):
        model.attach_layer_monitor(
            keras_gs.model.LayerStatistics(model, every=1)
        )
    monitor = keras_gs.callbacks.ConflictMonitor(str(tmp_path), every_n_steps=1)
    monitor.set_model(model)  # nothing to compare: it does nothing
    assert model.layer_monitor is None
