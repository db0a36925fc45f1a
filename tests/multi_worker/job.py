"""The model and data shared by the multi-worker workers and the test."""

import keras
import numpy as np
import tensorflow as tf

import keras_gs

GLOBAL_BATCH = 8  # per domain; each of the 2 workers gets 4


def global_batches():
    """The same stream of global batches in every process."""
    rng = np.random.default_rng(0)
    domains = []
    for k in range(3):
        x = rng.normal(size=(64, 4)).astype("float32") + k
        y = (x[:, 0] > k).astype("int32")
        domains.append(tf.data.Dataset.from_tensor_slices((x, y)))
    return keras_gs.data.zip_domains(domains, GLOBAL_BATCH, shuffle_buffer=0)


def build_model(surgery):
    keras.utils.set_random_seed(3)
    net = keras.Sequential(
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
    model = keras_gs.GradSurgeryModel(
        net, surgery=surgery, seed=7, coupled_l2=1e-3
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
