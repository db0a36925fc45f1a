"""Seconds per training step of each surgery against plain ERM.

Prints one line per surgery: the median step time of `GradSurgeryModel.fit`
on a ResNet-18 (64x64 inputs, 3 domains x 32 images, Adam) and its ratio to
the plain-Keras ERM step on the same 96 images. The target (METHOD.md §6):
one tape per domain costs about as much as one ERM step, so every ratio
should be near 1.

Usage: python tools/benchmark_train_step.py [--steps 8] [--surgeries erm,agr-sum]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_gs  # noqa: E402  (first: it turns oneDNN on before TF loads)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DOMAINS, PER_DOMAIN, SIZE, CLASSES = 3, 32, 64, 7


def resnet18(classes):
    """A plain Keras ResNet-18 (basic blocks [2, 2, 2, 2])."""

    def block(x, filters, stride):
        shortcut = x
        y = keras.layers.Conv2D(filters, 3, stride, "same", use_bias=False)(x)
        y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
        y = keras.layers.Conv2D(filters, 3, 1, "same", use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False)(
                x
            )
            shortcut = keras.layers.BatchNormalization()(shortcut)
        return keras.layers.ReLU()(y + shortcut)

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(64, 7, 2, "same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.MaxPooling2D(3, 2, "same")(x)
    for filters, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = block(x, filters, stride)
        x = block(x, filters, 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def median_step(model, dataset, steps):
    timer = StepTimer()
    model.fit(dataset, steps_per_epoch=2, verbose=0)  # trace and warm up
    model.fit(dataset, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return float(np.median(timer.times))


def compile_model(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument(
        "--surgeries", default="erm,mean,agr-sum,agr-rand,pcgrad,and-mask"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(PER_DOMAIN, DOMAINS, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=(PER_DOMAIN, DOMAINS)).astype("int32")
    domain_batches = tf.data.Dataset.from_tensors((x, y)).repeat()
    flat_batches = tf.data.Dataset.from_tensors(
        (x.reshape(-1, SIZE, SIZE, 3), y.reshape(-1))
    ).repeat()

    print(f"devices: {[d.name for d in tf.config.list_logical_devices()]}")
    print(
        f"ResNet-18, {SIZE}x{SIZE}, {DOMAINS} domains x {PER_DOMAIN} images, Adam"
    )
    keras.utils.set_random_seed(0)
    baseline = median_step(
        compile_model(resnet18(CLASSES)), flat_batches, args.steps
    )
    print(f"{'plain keras ERM':>16}: {baseline:.3f} s/step  ratio 1.00")
    for name in args.surgeries.split(","):
        keras.utils.set_random_seed(0)
        model = keras_gs.GradSurgeryModel(
            resnet18(CLASSES), surgery=name, seed=0
        )
        seconds = median_step(compile_model(model), domain_batches, args.steps)
        print(
            f"{name:>16}: {seconds:.3f} s/step  ratio {seconds / baseline:.2f}"
        )


if __name__ == "__main__":
    main()
