"""Train-step time and memory of every surgery against ERM and plain Keras.

Fish, Fishr and IGA (DomainBed's methods that change the step) are
measured with the surgeries, with their default hyperparameters.

For a plain Keras model (one tape on the concatenated batch, no keras_gs),
`erm` and each surgery, prints: the median train-step time over the timed
steps, images per second, the ratio to `erm`, and the peak memory the step
adds over the model and optimizer state. The models are timed in turns
(round-robin, a few steps each) so that machine noise hits them alike.

Memory is measured in a child process per model with TensorFlow's BFC
allocator on the CPU (`TF_CPU_ALLOCATOR_USE_BFC`), whose statistics
`tf.config.experimental.get_memory_info` reads: the allocator's peak during
the timed steps minus what was allocated before them.

Usage:
    python tools/bench.py [--backbone=resnet18] [--image_size=64]
        [--domains=3] [--batch_size=32] [--steps=24] [--rounds=4]
        [--surgeries=erm,sum,...] [--memory] [--streaming]
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

DEFAULT_SURGERIES = (
    "sum,mean,agr-sum,agr-rand,pcgrad,and-mask,sand-mask,mgda,cagrad,"
    "gradvac,imtl-g,upgrad,dualproj,nash-mtl,aligned-mtl,graddrop,config,"
    "fish,fishr,iga"
)

flags.DEFINE_string("backbone", "resnet18", "keras_gs.backbones name.")
flags.DEFINE_integer("image_size", 64, "Square input side.")
flags.DEFINE_integer("channels", 3, "Input channels.")
flags.DEFINE_integer("classes", 7, "Number of classes.")
flags.DEFINE_integer("domains", 3, "Number of source domains K.")
flags.DEFINE_integer("batch_size", 32, "Images per domain per step.")
flags.DEFINE_integer("steps", 24, "Timed steps per model (after warm-up).")
flags.DEFINE_integer("rounds", 4, "Turns the timed steps are split into.")
flags.DEFINE_integer("warmup", 3, "Untimed steps per model after tracing.")
flags.DEFINE_string("surgeries", DEFAULT_SURGERIES, "Comma list (erm and "
                    "plain Keras are always measured).")
flags.DEFINE_string("conflict_every", "1", "GradSurgeryModel's "
                    "conflict_every (comma list: one model per value).")
flags.DEFINE_boolean("memory", True, "Also measure peak step memory.")
flags.DEFINE_string("jit_surgery", "auto", "GradSurgeryModel's jit_surgery: "
                    "auto, true or false.")
flags.DEFINE_boolean("streaming", False, "Also measure every surgery that "
                     "streams (GradSurgeryModel(streaming=True)).")
flags.DEFINE_string("only", None, "Internal: measure one model's memory.")
FLAGS = flags.FLAGS

PLAIN = "plain keras"


def build(name, conflict_every=1, streaming=False):
    """A compiled model: plain Keras or a GradSurgeryModel."""
    import keras

    import keras_gs

    keras.utils.set_random_seed(0)
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    network = keras_gs.backbones.get(FLAGS.backbone, shape, FLAGS.classes)
    if name == PLAIN:
        model = network
    else:
        jit = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_surgery]
        model = keras_gs.GradSurgeryModel(
            network,
            surgery=name,
            seed=0,
            conflict_every=conflict_every,
            jit_surgery=jit,
            streaming=streaming,
        )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def batches(plain):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    size, k, b = FLAGS.image_size, FLAGS.domains, FLAGS.batch_size
    x = rng.normal(size=(b, k, size, size, FLAGS.channels)).astype("float32")
    y = rng.integers(0, FLAGS.classes, size=(b, k)).astype("int32")
    if plain:
        x, y = x.reshape((b * k,) + x.shape[2:]), y.reshape(-1)
    return tf.data.Dataset.from_tensors((x, y)).repeat()


class StepTimes:
    """A Keras callback recording the wall time of every train step."""

    def __new__(cls):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []

            def on_train_batch_begin(self, batch, logs=None):
                self.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.times.append(time.perf_counter() - self.start)

        return Timer()


def model_names():
    names = [PLAIN, "erm"]
    for name in FLAGS.surgeries.split(","):
        if name and name not in names:
            names.append(name)
    every = [int(v) for v in FLAGS.conflict_every.split(",")]
    labelled = [(PLAIN, 1, False), ("erm", 1, False)]
    for name in names[2:]:
        labelled += [(name, e, False) for e in every]
    if FLAGS.streaming:
        import keras_gs

        labelled += [
            (name, e, True)
            for name in names[2:]
            if keras_gs.surgery.get(name).streams
            for e in every
        ]
    return labelled


def label(name, every, streaming=False):
    options = []
    if every != 1:
        options.append(f"conflict_every={every}")
    if streaming:
        options.append("streaming")
    return f"{name} ({', '.join(options)})" if options else name


def measure_memory(name, every, streaming):
    """Peak bytes a step adds, in this process (BFC allocator on)."""
    import tensorflow as tf

    model = build(name, every, streaming)
    data = batches(name == PLAIN)
    model.fit(data, steps_per_epoch=2, verbose=0)
    device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
    before = tf.config.experimental.get_memory_info(device)["current"]
    tf.config.experimental.reset_memory_stats(device)
    model.fit(data, steps_per_epoch=2, verbose=0)
    peak = tf.config.experimental.get_memory_info(device)["peak"]
    params = sum(int(w.numpy().nbytes) for w in model.trainable_weights)
    return {"added": peak - before, "param_bytes": params}


def memory_in_child(name, every, streaming):
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
    argv = [sys.executable, __file__, f"--only={name}|{every}|{streaming}"]
    argv += [
        f"--{f}={getattr(FLAGS, f)}"
        for f in ("backbone", "image_size", "channels", "classes", "domains",
                  "batch_size", "jit_surgery")
    ]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if FLAGS.only:
        name, every, streaming = FLAGS.only.split("|")
        print(
            json.dumps(
                measure_memory(name, int(every), streaming == "True")
            )
        )
        return
    import numpy as np
    import tensorflow as tf

    import keras_gs  # noqa: F401  (turns oneDNN on)

    k, b = FLAGS.domains, FLAGS.batch_size
    print(
        f"{FLAGS.backbone}, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"{k} domains x {b} images, Adam; devices: "
        f"{[d.name for d in tf.config.list_logical_devices()]}"
    )
    models = {}
    for key in model_names():
        model = build(*key)
        data = batches(key[0] == PLAIN)
        model.fit(data, steps_per_epoch=FLAGS.warmup + 1, verbose=0)
        models[key] = (model, data, StepTimes())
    per_round = max(1, FLAGS.steps // FLAGS.rounds)
    for _ in range(FLAGS.rounds):
        for model, data, timer in models.values():
            model.fit(
                data, steps_per_epoch=per_round, verbose=0, callbacks=[timer]
            )
    medians = {key: float(np.median(t.times)) for key, (_, _, t) in models.items()}
    erm = medians[("erm", 1, False)]
    print(
        f"{'model':>42} {'s/step':>8} {'img/s':>7} {'x erm':>6} "
        f"{'spread':>7} {'step MB':>8} {'over erm':>9}"
    )
    memory = {
        key: memory_in_child(*key) if FLAGS.memory else None for key in models
    }
    erm_memory = memory[("erm", 1, False)]
    for key, (_, _, timer) in models.items():
        seconds = medians[key]
        times = np.array(timer.times)
        spread = (np.percentile(times, 90) - np.percentile(times, 10)) / seconds
        mem = f"{'-':>8} {'-':>9}"
        if memory[key] and erm_memory:
            added = memory[key]["added"]
            over = (added - erm_memory["added"]) / memory[key]["param_bytes"]
            mem = f"{added / 2**20:8.0f} {over:8.2f}P"
        print(
            f"{label(*key):>42} {seconds:8.3f} {k * b / seconds:7.0f} "
            f"{seconds / erm:6.2f} {spread:7.0%} {mem}"
        )
    print(
        "spread: (90th - 10th percentile) / median step time. step MB: peak "
        "memory a step adds over the model and optimizer state. over erm: "
        "what that exceeds erm's step by, in parameter bytes P (target: at "
        f"most K + 1 = {k + 1}P)."
    )


if __name__ == "__main__":
    app.run(main)
