"""The `tf.distribute` strategy of an experiment, from its name.

Which process writes results, logs and checkpoints is
`keras_gs.utils.distribute.is_chief`: under any strategy, only the chief.
"""

import json
import os

import tensorflow as tf

from keras_gs.utils.choices import check_choice

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Builds the strategy called `name`.

    - `"default"`: TensorFlow's default strategy (one device).
    - `"mirrored"`: `tf.distribute.MirroredStrategy` over every visible
      GPU, or the CPU when there is none.
    - `"multi_worker"`: `tf.distribute.MultiWorkerMirroredStrategy` from
      the `TF_CONFIG` environment variable, which must be JSON with a
      `cluster` and a `task` (`{"type": ..., "index": ...}`).

    Args:
        name: str, one of `STRATEGIES`.

    Returns:
        A `tf.distribute.Strategy`.
    """
    check_choice(name, STRATEGIES, "strategy", "strategy")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    check_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_tf_config(text: str | None) -> dict:
    """Parses `TF_CONFIG`; raises a one-line ValueError if it is unusable."""
    usage = (
        'Expected JSON like {"cluster": {"worker": ["host1:port", '
        '"host2:port"]}, "task": {"type": "worker", "index": 0}}.'
    )
    if not text:
        raise ValueError(
            f"--strategy=multi_worker reads TF_CONFIG, which is not set. "
            f"{usage}"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({error}). Received: "
            f"TF_CONFIG={text!r}. {usage}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. {usage}")
    cluster, task = value.get("cluster"), value.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no `cluster`. {usage}")
    if (
        not isinstance(task, dict)
        or not isinstance(task.get("type"), str)
        or not isinstance(task.get("index"), int)
    ):
        raise ValueError(
            f"TF_CONFIG has no `task` with a `type` and an integer "
            f"`index`. {usage}"
        )
    if task["type"] not in cluster or task["index"] >= len(
        cluster[task["type"]]
    ):
        raise ValueError(
            f"TF_CONFIG's task {task} is not in its cluster "
            f"{sorted(cluster)}. {usage}"
        )
    return value

