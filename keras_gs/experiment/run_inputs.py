"""What a run is built from: its data splits and its network.

The one place that turns an `ExperimentConfig` into `keras_gs.data.load`
and `keras_gs.backbones.get` calls: the experiment builds its runs with
these, and `keras_gs.analysis` rebuilds a finished run with them.
"""

import keras

from keras_gs import backbones
from keras_gs import data


def load_splits(
    config,
    test_domain,
    *,
    augmentation: str | None = None,
    data_dir: str | None = None,
    manual_dir: str | None = None,
):
    """The `DomainSplits` of a run of `config` holding out `test_domain`.

    Args:
        config: the `ExperimentConfig`.
        test_domain: str or None (None: the dataset's first domain).
        augmentation: str or None, overrides `config.augmentation` (the
            analysis measures gradients on the images themselves: "none").
        data_dir, manual_dir: str or None, override the config's (the
            data moved since the run).
    """
    return data.load(
        config.dataset,
        data_dir or config.data_dir,
        test_domains=test_domain,
        split_seed=config.split_seed,
        test_on=config.test_on,
        image_size=config.image_size,
        augmentation=augmentation or config.augmentation,
        augmentation_seed=config.seed,
        check_images=config.check_images,
        manual_dir=manual_dir or config.manual_dir,
    )


def build_network(config, image_shape, num_classes, *, weights=None):
    """The run's network, in the dtype policy of `config`.

    Args:
        config: the `ExperimentConfig` (`backbone`, `dropout`,
            `mixed_precision`).
        image_shape: tuple of int.
        num_classes: int.
        weights: the initial weights, `config.weights` when None is not
            wanted: passed through to `keras_gs.backbones.get`.
    """
    options = {}
    if config.dropout is not None:
        options["dropout"] = config.dropout
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(
        "mixed_float16" if config.mixed_precision else "float32"
    )
    try:
        return backbones.get(
            config.backbone, image_shape, num_classes, weights=weights, **options
        )
    finally:
        keras.config.set_dtype_policy(previous)
