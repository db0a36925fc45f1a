"""`load`: one entry point from a dataset name to per-domain tf.data splits."""

import random
from collections.abc import Sequence

import tensorflow as tf

from keras_gs.data import augment
from keras_gs.data import catalog
from keras_gs.data import image_check
from keras_gs.data import images
from keras_gs.data import pipeline
from keras_gs.data import splits as splits_lib
from keras_gs.utils.choices import check_choice
from keras_gs.data.domain_names import resolve_domains
from keras_gs.data.domain_splits import DomainSplits
from keras_gs.data.spec import SourceRequest
from keras_gs.data.zip_domains import TrainingDomain

# The names of `catalog`, in its order.
DATASETS = tuple(catalog.names())
TEST_ON = ("split", "domain")


def load(
    name: str,
    data_dir: str | None = None,
    test_domains: str | Sequence[str] | None = None,
    split_seed: int = 0,
    *,
    fractions: Sequence[float] = splits_lib.PAPER_FRACTIONS,
    test_on: str = "split",
    image_size: int | Sequence[int] | None = None,
    resize_filter: str = "bilinear",
    normalization: str | None = None,
    augmentation: str = "none",
    augmentation_seed: int | None = None,
    cache: bool | str = "auto",
    check_images: str = "header",
    on_bad_image: str = "raise",
    manual_dir: str | None = None,
    dataset_kwargs: dict | None = None,
) -> DomainSplits:
    """Loads a multi-domain dataset split as in the paper.

    Each domain is split on its own, stratified by class, into train / val
    / test (70/10/20 by default; see `stratified_split`), with the same
    `split_seed` for every domain. The model trains on the source domains'
    train splits (one dataset per domain), validates on the union of their
    val splits, and is tested on the test domains' test splits
    (`test_on="split"`, the paper's protocol) or on the whole test domains
    (`test_on="domain"`, DomainBed's protocol). The test domains' val
    splits are returned as `test_val`, for selection on the target (an
    oracle); with `test_on="domain"` they are part of `test`.

    Datasets (`name`):

    - `"pacs"`, `"vlcs"`, `"office_home"`: keras_gs's TFDS builders. On
      first use they are prepared in `data_dir` from the archive the user
      extracted into `manual_dir` (see each builder's
      `MANUAL_DOWNLOAD_INSTRUCTIONS`).
    - `"domainnet"`: TFDS's `domainnet` builder, each domain's official
      train and test splits joined then re-split as above.
    - `"folder"`: the user's own tree `data_dir/<domain>/<class>/<image>`.
    - `"rotated_digits"`: the embedded six-domain digits (no download;
      `data_dir` is ignored); see `make_rotated_digits`.

    The input pipeline per split: decode, resize, cache, augment (train
    only), normalize, with parallel maps (`AUTOTUNE`) and prefetching.
    Images come out `float32` of shape (S, S, C) (`uint8` with
    `normalization="none"`); labels `int32`.

    Args:
        name: str, a name of `catalog` (`keras_gs.data.names()`).
        data_dir: str or None, the folder tree's root for `"folder"`; the
            TFDS data directory for the TFDS datasets (`None`: TFDS's
            default). Defaults to `None`.
        test_domains: str, list of str, or None, the held-out domain(s);
            names match exactly, else case-insensitively with "_" for " "
            (see `resolve_domains`). `None` holds out the dataset's first
            domain. Defaults to `None`.
        split_seed: int, seed of the per-domain splits and of the order of
            the training examples. Defaults to `0`.
        fractions: three floats, the train / val / test fractions of every
            domain. Defaults to `(0.7, 0.1, 0.2)`.
        test_on: str, `"split"` (the test domains' test split) or
            `"domain"` (all of the test domains). Defaults to `"split"`.
        image_size: int, sequence of int, or None: the side of the square
            resize, or successive resizes (the paper's `(227, 224)`: resize
            to 227x227, then to 224x224). `None` uses the dataset's
            default: `(227, 224)` for image datasets, 28 for
            `"rotated_digits"` (built at that size, no resize). Defaults to
            `None`.
        resize_filter: str, how images shrink: `"bilinear"` (antialiased,
            as PIL's resize in the paper's code) or `"area"` (box average,
            about 1.7x faster uncached; see `images.resize`). Defaults to
            `"bilinear"`.
        normalization: str or None, a key of `images.NORMALIZATIONS`:
            `"imagenet"` (ImageNet mean/std), `"unit"` ([0, 1]),
            `"symmetric"` ([-1, 1]), or `"none"` (`uint8` 0..255, for a
            model that normalizes inside; the fastest on CPU). `None`:
            `"imagenet"` for image datasets, `"unit"` for
            `"rotated_digits"`. Defaults to `None`.
        augmentation: str, `"none"` (the paper) or `"domainbed"` (see
            `make_augmentation`), for the training splits only. Defaults to
            `"none"`.
        augmentation_seed: int or None, seed of the augmentation layers.
            Defaults to `None`.
        cache: bool or str. `True` caches the decoded, resized images in
            memory; a str caches them in files in that directory;
            `"auto"` caches in memory when they fit in a quarter of the
            physical memory (never for in-memory datasets). Defaults to
            `"auto"`.
        check_images: str, `"header"`, `"full"` or `"none"`: how the files
            of `"folder"` datasets (and of TFDS builds, where `"none"`
            means `"header"`) are checked before training; see
            `image_check.check_images`. Defaults to `"header"`.
        on_bad_image: str, `"raise"` stops with the list of unreadable
            files; `"skip"` leaves them out and reports how many. Defaults
            to `"raise"`.
        manual_dir: str or None, where the archives of `"pacs"`, `"vlcs"`
            and `"office_home"` are extracted. `None`:
            `<data_dir>/downloads/manual`. Defaults to `None`.
        dataset_kwargs: dict or None, extra arguments of the dataset:
            `channels`, `disjoint`, `seed` for `"rotated_digits"` (see
            `make_rotated_digits`); `download_config` for `"domainnet"`.
            Defaults to `None`.

    Returns:
        A `DomainSplits`.

    Example:

    ```python
    splits = keras_gs.data.load("pacs", test_domains="sketch")
    print(splits.summary())
    train = keras_gs.data.zip_domains(splits.train_domains, batch_size=32)
    ```
    """
    dataset = catalog.get(name)
    fractions = splits_lib.check_fractions(fractions)
    check_choice(test_on, TEST_ON, "test_on", "test protocol")
    if normalization is not None:
        images.check_normalization(normalization)
    images.check_resize_filter(resize_filter)
    augmenter = augment.make_augmentation(augmentation, augmentation_seed)
    check_choice(
        on_bad_image,
        image_check.ON_BAD_IMAGE,
        "on_bad_image",
        "bad-image policy",
    )
    check_choice(
        check_images, image_check.CHECK_MODES, "check_images", "image check"
    )
    sizes = _check_image_size(image_size)

    source = dataset.source(
        SourceRequest(
            data_dir=data_dir,
            manual_dir=manual_dir,
            sizes=sizes,
            check_images=check_images,
            on_bad_image=on_bad_image,
            options=dict(dataset_kwargs or {}),
        )
    )
    if dataset.built_at_size or sizes is None:
        sizes = source.image_size
    normalization = normalization or source.normalization
    test_domains = _resolve_test_domains(test_domains, source.domains)
    source_domains = [d for d in source.domains if d not in test_domains]

    # The same seed for every domain: a domain's split depends only on its
    # own labels, not on which domains were loaded with it.
    per_domain = {
        d: splits_lib.stratified_split(source.labels[d], fractions, split_seed)
        for d in source.domains
    }
    # Every domain's split sizes, as a test or as a source domain.
    domain_sizes = {
        d: {
            "train": len(split["train"]),
            "val": len(split["val"]),
            "test": len(split["test"])
            if test_on == "split"
            else len(source.labels[d]),
        }
        for d, split in per_domain.items()
    }
    if test_on == "domain":
        for d in test_domains:
            per_domain[d]["test"] = list(range(len(source.labels[d])))
    counts = {
        "train": {d: len(per_domain[d]["train"]) for d in source_domains},
        "val": {d: len(per_domain[d]["val"]) for d in source_domains},
        "test": {d: len(per_domain[d]["test"]) for d in test_domains},
    }
    cache = pipeline.resolve_cache(
        cache,
        sum(n for split in counts.values() for n in split.values())
        + sum(len(per_domain[d]["val"]) for d in test_domains),
        sizes,
        source.in_memory,
    )

    def examples(domain, split, training):
        indices = list(per_domain[domain][split])
        if training:
            # Folder trees list files class by class; a shuffled order
            # keeps a small shuffle buffer in zip_domains from drawing
            # batches of a single class.
            random.Random(split_seed).shuffle(indices)
        dataset = source.make_dataset(
            domain, indices, sizes[0] if sizes else None
        )
        return pipeline.prepare_examples(
            dataset,
            len(indices),
            sizes,
            cache=cache,
            # Everything that changes the cached images or their order.
            cache_key=repr(
                (
                    name,
                    data_dir,
                    manual_dir,
                    domain,
                    indices,
                    sizes,
                    resize_filter,
                )
            ),
            resize_filter=resize_filter,
        )

    def prepared(domain, split, training):
        dataset = examples(domain, split, training)
        finish = finish_training if training else finish_evaluation
        return dataset.map(
            lambda x, y: (finish(x), y), num_parallel_calls=tf.data.AUTOTUNE
        ).apply(tf.data.experimental.assert_cardinality(len(dataset)))

    train_examples = [examples(d, "train", True) for d in source_domains]
    channels = train_examples[0].element_spec[0].shape[-1]
    finish_training = pipeline.finishing(normalization, augmenter, channels)
    finish_evaluation = pipeline.finishing(normalization, None, channels)
    training_domains = [
        TrainingDomain(e, finish_training) for e in train_examples
    ]
    train = [
        d.examples.map(
            lambda x, y: (finish_training(x), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).apply(tf.data.experimental.assert_cardinality(len(d.examples)))
        for d in training_domains
    ]
    val = _concatenate([prepared(d, "val", False) for d in source_domains])
    test = _concatenate([prepared(d, "test", False) for d in test_domains])
    test_val = _concatenate([prepared(d, "val", False) for d in test_domains])
    image_shape = tuple(train[0].element_spec[0].shape)
    return DomainSplits(
        train_domains=[d.prefetch(tf.data.AUTOTUNE) for d in train],
        val=val.prefetch(tf.data.AUTOTUNE),
        test=test.prefetch(tf.data.AUTOTUNE),
        source_domains=source_domains,
        test_domains=test_domains,
        class_names=list(source.class_names),
        sizes=counts,
        image_shape=image_shape,
        skipped_files=list(source.skipped_files),
        test_val=test_val.prefetch(tf.data.AUTOTUNE),
        domains=list(source.domains),
        training_domains=training_domains,
        domain_sizes=domain_sizes,
    )


def _check_image_size(image_size):
    if image_size is None:
        return None
    sizes = (image_size,) if isinstance(image_size, int) else image_size
    sizes = tuple(sizes)
    if not sizes or any(
        not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes
    ):
        raise ValueError(
            "`image_size` must be a positive int or a non-empty sequence of "
            f"them. Received: image_size={image_size!r}"
        )
    return sizes


def _resolve_test_domains(test_domains, domains):
    if len(domains) < 2:
        raise ValueError(
            f"A leave-one-domain-out split needs at least 2 domains; the "
            f"dataset has {len(domains)}: {list(domains)}."
        )
    if test_domains is None:
        return [domains[0]]
    if isinstance(test_domains, str):
        test_domains = [test_domains]
    resolved = resolve_domains(test_domains, domains)
    if len(resolved) == len(domains):
        raise ValueError(
            f"Every domain is a test domain ({resolved}); leave at least "
            f"one out for training. Valid: {', '.join(domains)}"
        )
    if not resolved:
        raise ValueError(f"`test_domains` is empty. Valid: {', '.join(domains)}")
    return resolved


def _concatenate(datasets):
    result = datasets[0]
    for dataset in datasets[1:]:
        result = result.concatenate(dataset)
    return result
