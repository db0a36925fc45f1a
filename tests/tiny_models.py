"""Tiny domains and networks the tests train; imported by test modules."""

import keras
import numpy as np
import tensorflow as tf


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
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(classes, name="logits"),
        ]
    )


def compile_model(model, optimizer=None, metrics=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=metrics,
    )
    return model
