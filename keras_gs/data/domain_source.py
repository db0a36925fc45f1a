"""`DomainSource`: what `load` needs to know about one multi-domain dataset."""

import dataclasses
from collections.abc import Callable

import tensorflow as tf


@dataclasses.dataclass
class DomainSource:
    """A dataset seen as examples indexed per domain, not yet split.

    Every dataset `load` knows (folder trees, TFDS builders, the embedded
    rotated digits) is turned into one of these; `load` then splits each
    domain's indices with `stratified_split` and asks `make_dataset` for
    the examples of each split.

    Args:
        domains: list of str, the domain names, in the dataset's order.
        class_names: list of str; label `i` is `class_names[i]`.
        labels: dict mapping each domain to the list of its examples'
            labels; example `i` of a domain is the one `make_dataset`
            returns for index `i`.
        make_dataset: callable `(domain, indices, min_side) ->
            tf.data.Dataset` of unbatched `(image, label)`: images `uint8`
            (H, W, C) in 0..255 or `float32` in [0, 1], labels `int32`. It
            yields the examples at `indices` (a list of ints), in that
            order where it can (TFDS sources: in file order). `min_side`
            (int or None) is the side the images will be resized to next,
            which lets large JPEGs be decoded at a reduced size (see
            `images.decode_bytes`).
        image_size: tuple of int, the square resizes `load` applies by
            default; empty when images already have their final size.
        normalization: str, the default normalization for this dataset.
        in_memory: bool, True when `make_dataset` reads from memory, so
            caching would only copy.
        skipped_files: list of str, unreadable files left out.
    """

    domains: list[str]
    class_names: list[str]
    labels: dict[str, list[int]]
    make_dataset: Callable[[str, list[int], int | None], tf.data.Dataset]
    image_size: tuple[int, ...] = (227, 224)
    normalization: str = "imagenet"
    in_memory: bool = False
    skipped_files: list[str] = dataclasses.field(default_factory=list)
