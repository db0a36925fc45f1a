"""Test setup: two logical CPU devices, so that one process can test
`tf.distribute.MirroredStrategy` with 2 replicas.

The devices must be configured before TensorFlow initializes its runtime,
hence at import time, before any test module runs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_gs  # noqa: E402,F401  (first: it turns oneDNN on before TF loads)

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
