"""DomainNet through TFDS's own `domainnet` builder."""

import tensorflow_datasets as tfds

from keras_gs.data.domain_source import DomainSource
from keras_gs.data.spec import Dataset
from keras_gs.data.spec import SourceRequest
from keras_gs.data.tfds_source import tfds_source

# TFDS 4.9.10 `domainnet`: one builder config per domain, each with the
# official "train" and "test" splits; features "image" and "label" (345
# classes).
DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")


def domainnet_source(
    data_dir: str | None = None,
    download_config=None,
) -> DomainSource:
    """DomainNet (cleaned version, 345 classes, six domains) as a source.

    Each domain is the TFDS config `domainnet/<domain>`; its official
    "train" and "test" splits are joined (`"train+test"`) and re-split by
    `load` with the paper's stratified 70/10/20 protocol. Every config is
    prepared first if it is not yet: TFDS then downloads the archives
    (about 20 GB), which needs the internet, or reads them from
    `download_config`.

    Reading the labels to stratify takes one pass over each domain's
    records (the images are not decoded).

    Args:
        data_dir: str or None, the TFDS data directory. Defaults to `None`
            (TFDS's default, `~/tensorflow_datasets`).
        download_config: a `tfds.download.DownloadConfig` or None, passed
            to `download_and_prepare`. Defaults to `None`.

    Returns:
        A `DomainSource` of `uint8` RGB images of varying size.
    """
    builders = {}
    for domain in DOMAINS:
        builder = tfds.builder(f"domainnet/{domain}", data_dir=data_dir)
        builder.download_and_prepare(download_config=download_config)
        builders[domain] = builder
    class_names = builders[DOMAINS[0]].info.features["label"].names
    return tfds_source(
        {domain: (builders[domain], "train+test") for domain in DOMAINS},
        class_names,
    )


def _catalog_source(request: SourceRequest) -> DomainSource:
    return domainnet_source(request.data_dir, **request.options)


# Options: `download_config` (see `domainnet_source`).
DATASETS = (Dataset("domainnet", _catalog_source),)
