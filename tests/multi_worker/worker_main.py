"""One worker of a 2-process MultiWorkerMirroredStrategy job, run by tests.

Usage: python worker_main.py '<json spec>'. The spec holds the cluster's
ports, this worker's index, the surgeries to train one after the other, the
steps, and where to write the results (JSON). With `backup_dir`, training
uses keras_gs.callbacks.BackupAndRestore; with `kill` = {"worker": i, "after": n},
worker i SIGKILLs itself once the optimizer has made n steps.
"""

import json
import os
import signal
import sys

spec = json.loads(sys.argv[1])
os.environ["TF_CONFIG"] = json.dumps(
    {
        "cluster": {"worker": [f"localhost:{p}" for p in spec["ports"]]},
        "task": {"type": "worker", "index": spec["index"]},
    }
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_gs  # noqa: E402,F401  (first: it turns oneDNN on)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from multi_worker.job import build_model  # noqa: E402
from multi_worker.job import global_batches  # noqa: E402


class Watch(keras.callbacks.Callback):
    """Records the step training starts from; optionally dies mid-run."""

    def __init__(self, kill_after):
        super().__init__()
        self.kill_after = kill_after
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.kill_after is not None and step >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


def train(strategy, surgery):
    with strategy.scope():
        model = build_model(surgery)
    kill = spec.get("kill") or {}
    watch = Watch(kill.get("after") if kill.get("worker") == spec["index"] else None)
    callbacks = [watch]
    if spec.get("backup_dir"):
        # Before Watch: restoring happens in BackupAndRestore's
        # on_train_begin.
        callbacks.insert(
            0, keras_gs.callbacks.BackupAndRestore(spec["backup_dir"])
        )
    history = model.fit(
        global_batches(),
        epochs=spec.get("epochs", 1),
        steps_per_epoch=spec["steps"],
        callbacks=callbacks,
        verbose=0,
    )
    result = {
        "weights": [w.numpy().tolist() for w in model.network.weights],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "start": watch.start,
        "iterations": int(model.optimizer.iterations.numpy()),
    }
    if spec.get("evaluate"):
        result["evaluate"] = model.evaluate(
            global_batches().map(lambda x, y: (x[:, 0], y[:, 0])),
            steps=2,
            verbose=0,
            return_dict=True,
        )
        result["predict_shape"] = list(
            model.predict(np.zeros((8, 4), "float32"), verbose=0).shape
        )
        path = os.path.join(spec["save_dir"], f"model_{spec['index']}.keras")
        model.save(path)
        result["saved"] = path
    return result


def main():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    results = {s: train(strategy, s) for s in spec["surgeries"]}
    with open(spec["out"], "w") as f:
        json.dump(results, f)


main()
