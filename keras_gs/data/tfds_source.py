"""Prepared TFDS splits, one per domain, seen as a `DomainSource`."""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_gs.data import images
from keras_gs.data.domain_source import DomainSource


def tfds_source(
    splits: dict,
    class_names: list[str],
    image_size: tuple[int, ...] = (227, 224),
    normalization: str = "imagenet",
) -> DomainSource:
    """Wraps prepared TFDS splits (one or more per domain) as a `DomainSource`.

    Examples are indexed in the order TFDS reads them with
    `shuffle_files=False` (deterministic). One pass over each domain reads
    the labels only (the image bytes are not decoded); `make_dataset` then
    keeps the wanted indices with `enumerate` + `filter` and decodes only
    the images it keeps, with `images.decode_bytes` (the features' "image"
    must hold JPEG, PNG, GIF or BMP bytes, as TFDS's `Image` feature
    stores them).

    Args:
        splits: dict mapping each domain name to `(builder, split)`: a
            prepared `tfds.core.DatasetBuilder` whose features hold
            `"image"` and `"label"`, and a TFDS split string (e.g.
            `"cartoon"` or `"train+test"`).
        class_names: list of str, the label names.
        image_size: tuple of int, the default resizes (see `DomainSource`).
            Defaults to `(227, 224)`.
        normalization: str, the default normalization. Defaults to
            `"imagenet"`.

    Returns:
        A `DomainSource` of `uint8` RGB images of varying size.
    """
    labels = {
        domain: _read_labels(builder, split)
        for domain, (builder, split) in splits.items()
    }

    def make_dataset(domain, indices, min_side=None):
        builder, split = splits[domain]
        keep = np.zeros(len(labels[domain]), dtype=bool)
        keep[np.asarray(indices, dtype=np.int64)] = True
        keep = tf.constant(keep)
        dataset = _read(builder, split).enumerate()
        dataset = dataset.filter(lambda i, example: tf.gather(keep, i))
        return dataset.map(
            lambda i, example: (
                images.decode_bytes(example["image"], min_side),
                tf.cast(example["label"], tf.int32),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return DomainSource(
        domains=list(splits),
        class_names=list(class_names),
        labels=labels,
        make_dataset=make_dataset,
        image_size=tuple(image_size),
        normalization=normalization,
    )


def _read(builder, split):
    # Images stay encoded: filtering first means only kept images are
    # decoded. shuffle_files=False makes the read order deterministic, which
    # the index-based filter relies on.
    return builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    )


def _read_labels(builder, split):
    labels = _read(builder, split).map(
        lambda example: tf.cast(example["label"], tf.int32)
    )
    return [int(y) for batch in labels.batch(4096) for y in batch.numpy()]
