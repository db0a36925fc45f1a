"""Every multi-task aggregator through `fit`: on two replicas as on one
device, and through a `.keras` file that keeps its state and its training.

One model per aggregator, to keep the suite's time: trained 2 steps under
MirroredStrategy with 2 replicas and saved; the saved file is loaded on one
device; then one more step on each, from the same weights, optimizer and
surgery state, must give the same weights, state and logs (METHOD.md §5:
the step on two replicas is the step on one device; random draws and
state are the same on every replica).
"""

import keras
import numpy as np
import pytest

import keras_gs
from tiny_models import compile_model, make_domains, make_network
from trained_surgeries import AGGREGATORS

# GradVac per layer: the path with one Gram matrix and state per group
# (the whole-network GradVac trains in tests/multi_worker). PCGrad's
# per-domain orders are drawn as GradVac's.
CASES = [(n, {}) for n in AGGREGATORS if n != "gradvac"] + [
    ("gradvac", {"group": "layer"}),
]
STATEFUL = {"gradvac", "nash-mtl"}


def stream():
    return keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0)


def surgery_state(model):
    return {
        k: v.numpy() for k, v in model.surgery_state.variables.items()
    }


@pytest.mark.parametrize(
    "name, options", CASES, ids=[f"{n}{o or ''}" for n, o in CASES]
)
def test_two_replicas_then_reloaded_on_one_device(
    name, options, tmp_path, two_replicas
):
    with two_replicas.scope():
        mirrored = keras_gs.GradSurgeryModel(
            make_network(),
            surgery=keras_gs.surgery.get(name, **options),
            seed=4,
            # The weighted sum's XLA fusion is the same code for every
            # Gram weighting; tests/model/test_combiner.py checks it.
            jit_surgery=False,
        )
        compile_model(mirrored)
    logs = mirrored.fit(stream(), steps_per_epoch=2, verbose=0).history
    assert set(logs) == {
        "loss", "loss_0", "loss_1", "loss_2", "agreement", "cosine",
        "skipped_steps",
    }
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert logs["skipped_steps"] == [0.0]

    path = tmp_path / "model.keras"
    mirrored.save(path)
    restored = keras.saving.load_model(path)
    assert restored.surgery.get_config() == mirrored.surgery.get_config()
    saved_state = surgery_state(mirrored)
    assert set(saved_state) == {
        "gradvac": {"targets"}, "nash-mtl": {"alpha"}
    }.get(name, set())
    for key, value in saved_state.items():
        np.testing.assert_array_equal(surgery_state(restored)[key], value)

    # One more step each: on two replicas, and reloaded on one device.
    mirrored_logs = mirrored.fit(stream(), steps_per_epoch=1, verbose=0)
    restored_logs = restored.fit(stream(), steps_per_epoch=1, verbose=0)
    for a, b in zip(mirrored.weights, restored.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    for key, value in surgery_state(mirrored).items():
        np.testing.assert_allclose(
            surgery_state(restored)[key], value, atol=1e-5
        )
        # The state moves: the step used and updated it.
        assert not np.allclose(value, saved_state[key], atol=1e-6), key
    for key, values in mirrored_logs.history.items():
        np.testing.assert_allclose(
            values, restored_logs.history[key], rtol=1e-5, atol=1e-6,
            err_msg=key,
        )
