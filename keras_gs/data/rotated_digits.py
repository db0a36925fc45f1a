"""Rotated digits: an embedded six-domain dataset that needs no download."""

import functools
import random

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_gs.data.domain_source import DomainSource
from keras_gs.data.spec import Dataset
from keras_gs.data.spec import SourceRequest

ANGLES = (0, 15, 30, 45, 60, 75)
DOMAINS = tuple(str(a) for a in ANGLES)
CLASS_NAMES = tuple(str(d) for d in range(10))


def make_rotated_digits(
    image_size: int = 28,
    channels: int = 1,
    disjoint: bool = True,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Builds the rotated-digits domains from scikit-learn's digits.

    The 1,797 handwritten digits bundled with scikit-learn
    (`sklearn.datasets.load_digits`: 8x8 pixels, values 0..16, 10 classes)
    are scaled to [0, 1], upsampled (bilinear) into a box of 20/28 of
    `image_size` centred on a black square of side `image_size` (MNIST's
    margin, so rotated corners stay in the frame), then rotated
    counter-clockwise about the centre by 0, 15, 30, 45, 60 and 75 degrees
    (bilinear, black fill): one domain per angle, named `"0"`, `"15"`, ...,
    `"75"`, as DomainBed's RotatedMNIST.

    As in RotatedMNIST, `disjoint=True` shuffles the digits once (with
    `seed`) and gives each domain its own sixth (300 or 299 images), so no
    handwritten digit appears in two domains; `disjoint=False` rotates all
    1,797 digits into every domain. The result is the same on every run
    (PIL resampling, Python's `random`); building takes well under a second.

    Args:
        image_size: int, the side of the square images. Defaults to `28`
            (RotatedMNIST's size).
        channels: int, 1 (grayscale) or 3 (the gray value repeated, for
            RGB backbones). Defaults to `1`.
        disjoint: bool, one sixth of the digits per domain. Defaults to
            `True`.
        seed: int, seed of the shuffle that assigns digits to domains.
            Defaults to `0`.

    Returns:
        `(images, labels)`: dicts keyed by domain name; images `float32` of
        shape (N, image_size, image_size, channels) in [0, 1], labels
        `int32` of shape (N,). The arrays are read-only.
    """
    if int(image_size) < 8:
        raise ValueError(
            "`image_size` must be at least 8 (the digits are 8x8). "
            f"Received: image_size={image_size}"
        )
    if channels not in (1, 3):
        raise ValueError(
            f"`channels` must be 1 or 3. Received: channels={channels}"
        )
    return _build(int(image_size), int(channels), bool(disjoint), int(seed))


def rotated_digits_source(
    image_size: int = 28,
    channels: int = 1,
    disjoint: bool = True,
    seed: int = 0,
) -> DomainSource:
    """`make_rotated_digits` as a `DomainSource`; arguments are the same."""
    images, labels = make_rotated_digits(image_size, channels, disjoint, seed)

    def make_dataset(domain, indices, min_side=None):
        del min_side  # Already at their final size.
        indices = np.asarray(indices, dtype=np.int64)
        return tf.data.Dataset.from_tensor_slices(
            (images[domain][indices], labels[domain][indices])
        )

    return DomainSource(
        domains=list(DOMAINS),
        class_names=list(CLASS_NAMES),
        labels={d: labels[d].tolist() for d in DOMAINS},
        make_dataset=make_dataset,
        image_size=(),  # Built at their final size.
        normalization="unit",
        in_memory=True,
    )


# Cached because smoke tests and trials load it many times; the arrays are
# made read-only so that one caller cannot change another's data.
@functools.lru_cache(maxsize=4)
def _build(image_size, channels, disjoint, seed):
    # Imported here: scikit-learn is only needed for this dataset.
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images / 16.0).astype(np.float32)
    targets = digits.target.astype(np.int32)
    order = list(range(len(targets)))
    random.Random(seed).shuffle(order)
    parts = np.array_split(np.array(order), len(ANGLES))

    images, labels = {}, {}
    for k, (angle, domain) in enumerate(zip(ANGLES, DOMAINS)):
        members = parts[k] if disjoint else np.arange(len(targets))
        rotated = np.stack(
            [_rotate(pixels[i], image_size, angle) for i in members]
        )[..., None]
        if channels == 3:
            rotated = np.repeat(rotated, 3, axis=-1)
        rotated.setflags(write=False)
        domain_labels = targets[members]
        domain_labels.setflags(write=False)
        images[domain], labels[domain] = rotated, domain_labels
    return images, labels


def _rotate(pixels, image_size, angle):
    # MNIST draws each digit in a 20x20 box centred in 28x28; the same
    # margin here keeps the corners of a digit inside the frame when it
    # is rotated.
    inner = max(8, round(image_size * 20 / 28))
    digit = Image.fromarray(pixels, mode="F").resize(
        (inner, inner), Image.Resampling.BILINEAR
    )
    image = Image.new("F", (image_size, image_size), 0.0)
    offset = (image_size - inner) // 2
    image.paste(digit, (offset, offset))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def _catalog_source(request: SourceRequest) -> DomainSource:
    # Built at the requested size (the last resize), so nothing is resized.
    options = dict(request.options)
    if request.sizes:
        options.setdefault("image_size", request.sizes[-1])
    return rotated_digits_source(**options)


# No download; `data_dir` is ignored. Options: `channels`, `disjoint`,
# `seed` (see `make_rotated_digits`).
DATASETS = (Dataset("rotated_digits", _catalog_source, built_at_size=True),)
