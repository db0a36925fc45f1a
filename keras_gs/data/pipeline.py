"""`prepare`: the per-split tf.data pipeline after decoding."""

import hashlib
import os

import tensorflow as tf

from keras_gs.data import images

# `cache="auto"` caches in memory when the resized uint8 images of all
# splits take at most this fraction of the machine's physical memory.
AUTO_CACHE_MEMORY_FRACTION = 0.25


def prepare(
    dataset: tf.data.Dataset,
    num_examples: int,
    sizes: tuple[int, ...],
    normalization: str,
    cache: bool | str = False,
    cache_key: str = "",
    augmentation=None,
    resize_filter: str = "bilinear",
) -> tf.data.Dataset:
    """Resizes, caches, augments and normalizes decoded `(image, label)`s.

    The order keeps the cache small and the augmentation fresh: images are
    resized and rounded to `uint8` first (a 224x224 RGB image is 147 KiB
    cached, 588 KiB as float32), cached, then augmented (a new draw every
    epoch) and normalized. Maps run in parallel (`AUTOTUNE`). It is
    `prepare_examples` followed by `finishing`'s function.

    Args:
        dataset: unbatched `tf.data.Dataset` of `(image, label)`, images
            `uint8` (H, W, C) or `float32` in [0, 1].
        num_examples: int, how many examples `dataset` yields (set as its
            cardinality, so `len()` works).
        sizes: tuple of int, the successive square resizes (see
            `images.resize`); empty for none.
        normalization: str, a key of `images.NORMALIZATIONS`.
        cache: bool or str, `True` to cache in memory, a directory to cache
            in files there, `False` for no cache. Defaults to `False`.
        cache_key: str, what makes the cache files of this split unique
            (hashed into their name). Defaults to `""`.
        augmentation: a Keras layer taking a [0, 1] float image, or None.
            Defaults to `None`.
        resize_filter: str, `"bilinear"` or `"area"`; see `images.resize`.
            Defaults to `"bilinear"`.

    Returns:
        The prepared `tf.data.Dataset` of `(float32 image, int32 label)`
        (`uint8` images for `normalization="none"`).
    """
    examples = prepare_examples(
        dataset, num_examples, sizes, cache, cache_key, resize_filter
    )
    finish = finishing(
        normalization, augmentation, examples.element_spec[0].shape[-1]
    )
    dataset = examples.map(
        lambda x, y: (finish(x), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(num_examples))


def prepare_examples(
    dataset: tf.data.Dataset,
    num_examples: int,
    sizes: tuple[int, ...],
    cache: bool | str = False,
    cache_key: str = "",
    resize_filter: str = "bilinear",
) -> tf.data.Dataset:
    """The examples resized (to `uint8` where decoded so) and cached: what
    stays the same every epoch. See `prepare` for the arguments."""
    if sizes:
        dataset = dataset.map(
            lambda x, y: (images.resize(x, sizes, resize_filter), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if cache is True:
        dataset = dataset.cache()
    elif isinstance(cache, str) and cache:
        digest = hashlib.sha1(cache_key.encode("utf-8")).hexdigest()[:16]
        dataset = dataset.cache(os.path.join(cache, f"keras_gs-{digest}"))
    return dataset.apply(tf.data.experimental.assert_cardinality(num_examples))


def finishing(normalization: str, augmentation=None, channels: int = 3):
    """What each drawn image goes through after `prepare_examples`: the
    augmentation (on [0, 1] floats), then the normalization. The function
    takes one image or a batch of them."""
    if augmentation is not None and channels != 3:
        raise ValueError(
            f"Augmentation needs RGB images, but these have {channels} "
            "channel(s). For rotated_digits pass "
            "dataset_kwargs={'channels': 3}."
        )

    def finish(x):
        if augmentation is not None:
            # The augmentation layers work on [0, 1] floats.
            x = augmentation(images.to_unit_float(x))
        return images.normalize(x, normalization)

    return finish


def resolve_cache(
    cache: bool | str,
    num_examples: int,
    sizes: tuple[int, ...],
    in_memory: bool,
) -> bool | str:
    """Turns `load`'s `cache` argument into `prepare`'s.

    Args:
        cache: bool, `"auto"` or a directory (str). `"auto"` caches in
            memory when `num_examples` RGB `uint8` images of the final size
            take at most a quarter of the physical memory, and never when
            the data is already in memory (`in_memory`) or not resized.
        num_examples: int, the examples of every split together.
        sizes: tuple of int, the resizes (the last is the final size).
        in_memory: bool, whether the source already reads from memory.

    Returns:
        `True`, `False`, or the cache directory (created).
    """
    if cache == "auto":
        if in_memory or not sizes:
            return False
        needed = num_examples * sizes[-1] * sizes[-1] * 3
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return needed <= AUTO_CACHE_MEMORY_FRACTION * memory
    if isinstance(cache, bool):
        return cache
    if isinstance(cache, str):
        os.makedirs(cache, exist_ok=True)
        return cache
    raise ValueError(
        "`cache` must be True, False, 'auto' or a directory (str). "
        f"Received: cache={cache!r}"
    )
