"""`name_is_free`: keeps our builders from clashing with TFDS's own names."""

import logging

import tensorflow_datasets as tfds

logger = logging.getLogger("keras_gs")


def name_is_free(name: str) -> bool:
    """Whether no TFDS builder is registered under `name` yet.

    TFDS 4.9.10 has no `pacs`, `vlcs` or `office_home`. Should a later
    version add one, registering ours under the same name would raise
    ("already registered") when `keras_gs` is imported; we then leave
    the name to TFDS (ours stays usable through `keras_gs.data.load` and
    its class) and log it. `tfds.builder_cls` also imports TFDS's own
    builder modules (about 0.4 s, once), so a TFDS builder cannot be
    registered after ours either.

    Args:
        name: str, a TFDS builder name.

    Returns:
        True if `name` is free.
    """
    try:
        existing = tfds.builder_cls(name)
    except tfds.core.DatasetNotFoundError:
        return True
    logger.warning(
        "TFDS already has a builder named %r (%s); keras_gs's builder is "
        "not registered under that name. keras_gs.data.load(%r, ...) uses "
        "keras_gs's builder.",
        name,
        existing.__module__,
        name,
    )
    return False
