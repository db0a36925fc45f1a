"""`load`: one entry point from a dataset name to per-domain tf.data splits.

Three steps: the arguments are checked (`_check`), the dataset's examples
are split by domain and split (`split_plan.plan_splits`), then read into
tf.data pipelines (`build_splits.build_splits`).
"""

from collections.abc import Sequence

from keras_gs.data import augment
from keras_gs.data import catalog
from keras_gs.data import image_check
from keras_gs.data import images
from keras_gs.data import pipeline
from keras_gs.data import splits as splits_lib
from keras_gs.data.build_splits import Reading
from keras_gs.data.build_splits import build_splits
from keras_gs.data.domain_splits import DomainSplits
from keras_gs.data.spec import SourceRequest
from keras_gs.data.split_plan import plan_splits
from keras_gs.utils.choices import check_choice

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
    fractions, augmenter, sizes = _check(
        fractions=fractions,
        test_on=test_on,
        normalization=normalization,
        resize_filter=resize_filter,
        augmentation=augmentation,
        augmentation_seed=augmentation_seed,
        on_bad_image=on_bad_image,
        check_images=check_images,
        image_size=image_size,
    )
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
    plan = plan_splits(
        source.labels, source.domains, test_domains, fractions, split_seed, test_on
    )
    reading = Reading(
        sizes=sizes,
        resize_filter=resize_filter,
        normalization=normalization or source.normalization,
        augmenter=augmenter,
        cache=pipeline.resolve_cache(
            cache, plan.num_examples(), sizes, source.in_memory
        ),
        cache_identity=(name, data_dir, manual_dir),
        split_seed=split_seed,
    )
    return build_splits(source, plan, reading)


def _check(
    *,
    fractions,
    test_on,
    normalization,
    resize_filter,
    augmentation,
    augmentation_seed,
    on_bad_image,
    check_images,
    image_size,
):
    """`load`'s arguments checked, in order: the fractions, the
    augmentation layer (or None) and the resizes (or None)."""
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
    return fractions, augmenter, _check_image_size(image_size)


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
