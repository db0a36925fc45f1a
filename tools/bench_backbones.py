"""Train-step time of keras_gs's backbones against plain Keras.

Prints, for `resnet18` (torchvision's ResNet-18 in Keras: explicit torch
paddings, torch's initializers) and a ResNet-18 written the plain Keras way
("same" paddings, Keras's default BatchNorm and initializers), the median
train-step time of the same batch and their ratio; the two are timed in
alternating rounds so that machine noise hits both alike. Then the step
time of `alexnet` at 224x224 under `GradSurgeryModel` (the README's figure).

Usage:
    python tools/bench_backbones.py [--image_size=64] [--batch=96]
        [--rounds=6] [--steps=4] [--alexnet_batch_size=32] [--noalexnet]
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("image_size", 64, "ResNet input side.")
flags.DEFINE_integer("batch", 96, "ResNet images per step (3 domains x 32).")
flags.DEFINE_integer("rounds", 6, "Alternating rounds per model.")
flags.DEFINE_integer("steps", 4, "Timed steps per model per round.")
flags.DEFINE_bool("alexnet", True, "Also time alexnet at 224x224.")
flags.DEFINE_integer("domains", 3, "alexnet: source domains K.")
flags.DEFINE_integer("alexnet_batch_size", 32, "alexnet: images per domain.")
flags.DEFINE_list("surgeries", ["erm", "agr-sum"], "alexnet: surgeries.")
FLAGS = flags.FLAGS
CLASSES = 7


def plain_keras_resnet18(input_shape, classes):
    """ResNet-18 as a Keras user writes it, the reference for the timing."""
    import keras

    def block(x, filters, stride):
        y = keras.layers.Conv2D(filters, 3, stride, "same", use_bias=False)(x)
        y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
        y = keras.layers.Conv2D(filters, 3, 1, "same", use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        if stride != 1 or x.shape[-1] != filters:
            x = keras.layers.Conv2D(filters, 1, stride, use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
        return keras.layers.ReLU()(keras.layers.Add()([y, x]))

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(64, 7, 2, "same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.MaxPooling2D(3, 2, "same")(x)
    for filters, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = block(block(x, filters, stride), filters, 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def compiled(model):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def data(shape, batch):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *shape)).astype("float32")
    y = rng.integers(0, CLASSES, size=(batch, *shape[:-3])).astype("int32")
    return tf.data.Dataset.from_tensors((x, y)).repeat()


def step_seconds(model, dataset, steps):
    """The median wall time of `steps` train steps (one `fit`)."""
    import keras
    import numpy as np

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(dataset, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    return float(np.median(times))


def alternate(models, rounds, steps):
    """Median step seconds of each (model, dataset), timed in turns."""
    import numpy as np

    for model, dataset in models.values():
        model.fit(dataset, steps_per_epoch=2, verbose=0)  # trace, warm up
    seconds = {name: [] for name in models}
    for r in range(rounds):
        names = list(models) if r % 2 == 0 else list(models)[::-1]
        for name in names:
            seconds[name].append(step_seconds(*models[name], steps))
    return {name: float(np.median(v)) for name, v in seconds.items()}


def main(argv):
    del argv
    import keras

    import keras_gs

    size = FLAGS.image_size
    shape = (size, size, 3)
    keras.utils.set_random_seed(0)
    resnets = {
        "plain Keras ResNet-18": compiled(plain_keras_resnet18(shape, CLASSES)),
        "keras_gs resnet18": compiled(
            keras_gs.backbones.get("resnet18", shape, CLASSES)
        ),
    }
    batch = data(shape, FLAGS.batch)
    times = alternate(
        {n: (m, batch) for n, m in resnets.items()}, FLAGS.rounds, FLAGS.steps
    )
    print(
        f"ResNet-18, {size}x{size}, {FLAGS.batch} images per step, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}:"
    )
    for name, seconds in times.items():
        print(f"  {name:>24}: {seconds:.3f} s/step")
    ratio = times["keras_gs resnet18"] / times["plain Keras ResNet-18"]
    print(f"  keras_gs / plain Keras: {ratio:.2f}")
    if not FLAGS.alexnet:
        return
    k, b = FLAGS.domains, FLAGS.alexnet_batch_size
    alexnets = {}
    for surgery in FLAGS.surgeries:
        network = keras_gs.backbones.get("alexnet", (224, 224, 3), CLASSES)
        model = keras_gs.GradSurgeryModel(network, surgery=surgery, seed=0)
        alexnets[surgery] = (compiled(model), data((k, 224, 224, 3), b))
    times = alternate(alexnets, max(2, FLAGS.rounds // 2), FLAGS.steps)
    print(f"alexnet, 224x224, {k} domains x {b} images per step:")
    for surgery, seconds in times.items():
        print(f"  {surgery:>24}: {seconds:.2f} s/step")


if __name__ == "__main__":
    app.run(main)
