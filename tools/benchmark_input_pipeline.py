"""Images per second of the folder input pipeline (JPEG -> 227 -> 224).

Writes a temporary `<root>/<domain>/<class>/<image>` tree of photo-like
500x375 JPEGs, loads it with `keras_gs.data.load("folder", ...)`, feeds the
source domains through `zip_domains` as training does, warms up, then
times a number of batches and prints images per second, three ways: no
cache (every image read, decoded, resized twice and normalized each time)
with the defaults (PIL-like bilinear filter, ImageNet-normalized float32),
with `resize_filter="area"`, with `"area"` and `normalization="none"`
(uint8 out, the model normalizes), and with the defaults and the
in-memory cache (`cache="auto"` turns it on whenever the resized images
fit in a quarter of the memory).

The reference: METHOD.md section 6 measured one ResNet-18 ERM step
(3 domains x 32 images at 64x64) at about 0.5 s on this project's 2-core
CPU machines, i.e. about 190 images/s; the input pipeline should deliver at
least twice that so it never starves training.

Usage:

    python tools/benchmark_input_pipeline.py [--images 300] [--batches 20]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import keras_gs.data  # noqa: E402
from keras_gs.data.load import load  # noqa: E402

TRAINING_IMAGES_PER_SECOND = 3 * 32 / 0.5  # METHOD.md section 6: 192.


def write_photos(root, count, width=500, height=375, seed=0):
    """Writes `count` photo-like JPEGs over 4 domains x 2 classes.

    Smooth color gradients plus shapes plus sensor-like noise give files of
    about the size of real 500x375 photos (~50-100 KB at quality 90).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    total_bytes = 0
    for i in range(count):
        domain, label = f"d{i % 4}", f"c{(i // 4) % 2}"
        freq = rng.uniform(10, 60, size=3)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        image = np.stack(
            [
                127 + 100 * np.sin(xx / freq[0] + phase[0]),
                127 + 100 * np.cos(yy / freq[1] + phase[1]),
                127 + 100 * np.sin((xx + yy) / freq[2] + phase[2]),
            ],
            axis=-1,
        )
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), 60
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
        image += rng.normal(0, 12, image.shape)
        folder = os.path.join(root, domain, label)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(
            path, "JPEG", quality=90
        )
        total_bytes += os.path.getsize(path)
    return total_bytes / count


def time_batches(dataset, batches, images_per_batch):
    """Returns (images per second, CPU seconds per image) over `batches`.

    CPU time counts every thread of this process, so it shows the work an
    image costs even when other processes share the cores.
    """
    iterator = iter(dataset)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    images = batches * images_per_batch
    wall = time.perf_counter() - start
    return images / wall, (time.process_time() - start_cpu) / images


def measure(root, args, cache, resize_filter, normalization):
    """Images/s of each run and CPU s/image of the training stream."""
    splits = load(
        "folder",
        root,
        test_domains="d3",
        fractions=(1.0, 0.0, 0.0),  # Every source image trains.
        cache=cache,
        resize_filter=resize_filter,
        normalization=normalization,
    )
    stream = keras_gs.data.zip_domains(
        splits.train_domains, args.batch_size, shuffle_buffer=64, seed=0
    )
    per_batch = args.batch_size * len(splits.train_domains)
    # Warm-up: tf.data's autotuning settles, and with a cache every image
    # has been decoded once (the warm-up covers more than one epoch).
    time_batches(stream, args.warmup_batches, per_batch)
    runs = [
        time_batches(stream, args.batches, per_batch)
        for _ in range(args.repeats)
    ]
    rates = [rate for rate, _ in runs]
    return rates, float(np.median([cpu for _, cpu in runs]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup_batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count()
    target = 2 * TRAINING_IMAGES_PER_SECOND

    with tempfile.TemporaryDirectory() as root:
        mean_bytes = write_photos(root, args.images)
        print(
            f"{args.images} photo-like JPEGs of 500x375 "
            f"({mean_bytes / 1024:.0f} KB on average), 3 source domains x "
            f"{args.batch_size} images per batch, {cores} CPU cores"
        )
        for cache, resize_filter, normalization, what in (
            (
                False, "bilinear", "imagenet",
                "defaults: decode, resize 227 -> 224, ImageNet float32",
            ),
            (False, "area", "imagenet", "same with resize_filter='area'"),
            (
                False, "area", "none",
                "resize_filter='area', normalization='none' (uint8)",
            ),
            (True, "bilinear", "imagenet", "defaults, cached (2nd epoch on)"),
        ):
            rates, cpu = measure(
                root, args, cache, resize_filter, normalization
            )
            rate = float(np.median(rates))
            print(
                f"{what}: {rate:.0f} images/s (runs: "
                f"{', '.join(f'{r:.0f}' for r in rates)}); CPU "
                f"{cpu * 1e3:.2f} ms/image, so at most {cores / cpu:.0f} "
                f"images/s on {cores} free cores; "
                f"{rate / TRAINING_IMAGES_PER_SECOND:.1f}x a ResNet-18 step"
            )
    print(
        f"Reference: one ResNet-18 ERM step takes about "
        f"{TRAINING_IMAGES_PER_SECOND:.0f} images/s here (METHOD.md section "
        f"6); target: at least {target:.0f} images/s. 1-minute load average "
        f"during the run: {os.getloadavg()[0]:.1f} (above {cores} means "
        "other processes shared the cores)."
    )


if __name__ == "__main__":
    main()
