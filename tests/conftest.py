"""Test setup: two logical CPU devices, so that one process can test
`tf.distribute.MirroredStrategy` with 2 replicas.

The devices must be configured before TensorFlow initializes its runtime,
hence at import time, before any test module runs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_gs  # noqa: E402,F401  (first: it turns oneDNN on before TF loads)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)


@pytest.fixture(scope="session")
def two_replicas():
    # One strategy for the whole session: TensorFlow's collective keys clash
    # between several MirroredStrategy objects in one process.
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def one_device():
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def make_domains(num_domains=3, size=48, features=4, seed=0):
    """Small labelled domains whose decision boundary shifts per domain."""
    rng = np.random.default_rng(seed)
    domains = []
    for k in range(num_domains):
        x = rng.normal(size=(size, features)).astype("float32") + k
        y = (x[:, 0] > k).astype("int32")
        domains.append(tf.data.Dataset.from_tensor_slices((x, y)))
    return domains


def make_network(features=4, hidden=8, classes=2, seed=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(classes),
        ]
    )


def compile_model(model, optimizer=None, metrics=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=metrics,
    )
    return model
