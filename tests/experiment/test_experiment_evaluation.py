"""`Evaluator` against accuracies counted by hand, and `writes_files`."""

import json
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gs.utils import distribute
from keras_gs.experiment import strategy as distribution
from keras_gs.experiment.evaluation import Evaluator


def network():
    # Logits = x itself: the prediction is the argmax of the input.
    return keras.Sequential([keras.Input((3,)), keras.layers.Identity()])


def split(x, y):
    return tf.data.Dataset.from_tensor_slices(
        (np.array(x, "float32"), np.array(y, "int32"))
    )


SPLITS = {
    # Predictions 0, 1, 2, 2: three of four right.
    "val": split([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], [0, 1, 2, 0]),
    # Predictions 2, 0: one of two.
    "test": split([[0, 0, 5], [9, 0, 0]], [2, 1]),
    "empty": split(np.zeros((0, 3)), np.zeros(0)),
}


@pytest.mark.parametrize("cached", [True, False])
def test_accuracies(cached):
    evaluator = Evaluator(
        network(),
        SPLITS,
        batch_size=3,
        max_cached_bytes=2**20 if cached else 0,
    )
    for _ in range(2):  # The second call reads from memory when cached.
        result = evaluator()
        assert result["val"] == 0.75 and result["test"] == 0.5
        assert math.isnan(result["empty"])
    assert bool(evaluator._batches) == cached


def test_tf_config_checks():
    good = {
        "cluster": {"worker": ["a:1", "b:2"]},
        "task": {"type": "worker", "index": 1},
    }
    assert distribution.check_tf_config(json.dumps(good)) == good
    for text, match in [
        (None, "not set"),
        ("[1]", "JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', "no `cluster`"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}',
            "no `task`",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", '
            '"index": 3}}',
            "not in its cluster",
        ),
    ]:
        with pytest.raises(ValueError, match=match):
            distribution.check_tf_config(text)


def resolver(task_type, task_id, cluster):
    return types.SimpleNamespace(
        cluster_resolver=types.SimpleNamespace(
            task_type=task_type,
            task_id=task_id,
            cluster_spec=lambda: tf.train.ClusterSpec(cluster),
        )
    )


def test_only_the_chief_writes_files(monkeypatch):
    assert distribute.is_chief(tf.distribute.get_strategy())
    monkeypatch.setattr(distribute, "is_multi_worker", lambda strategy: True)
    workers = {"worker": ["a:1", "b:1"]}
    assert distribute.is_chief(resolver("worker", 0, workers))
    assert not distribute.is_chief(resolver("worker", 1, workers))
    with_chief = {"chief": ["c:1"], **workers}
    assert distribute.is_chief(resolver("chief", 0, with_chief))
    assert not distribute.is_chief(resolver("worker", 0, with_chief))


def test_accuracy_is_the_inference_mode_accuracy():
    """Dropout off and BatchNorm on its moving statistics, as evaluate."""
    keras.utils.set_random_seed(1)
    net = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(4),
        ]
    )
    batchnorm = net.layers[1]
    # Moving statistics far from any batch's, so that training mode (batch
    # statistics) and inference mode predict differently.
    batchnorm.moving_mean.assign(np.full(16, 0.7, "float32"))
    batchnorm.moving_variance.assign(np.full(16, 3.0, "float32"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype("float32")
    y = rng.integers(0, 4, size=300).astype("int32")
    inference = np.argmax(net(x, training=False).numpy(), -1)
    net.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, expected = net.evaluate(x, y, batch_size=64, verbose=0)
    assert expected == pytest.approx(float(np.mean(inference == y)))
    for cached in (True, False):
        evaluator = Evaluator(
            net,
            {"split": split(x, y)},
            batch_size=64,
            max_cached_bytes=2**20 if cached else 0,
        )
        assert evaluator()["split"] == pytest.approx(expected, abs=1e-9)
    # The modes do differ here (last: a training-mode call also moves the
    # moving statistics).
    training = np.argmax(net(x, training=True).numpy(), -1)
    assert (inference != training).sum() > 30
