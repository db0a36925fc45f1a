"""`tfds_dataset`: one of keras_gs's TFDS builders as a catalog `Dataset`."""

import functools
import os

import tensorflow_datasets as tfds

from keras_gs.data.domain_source import DomainSource
from keras_gs.data.spec import Dataset
from keras_gs.data.spec import SourceRequest
from keras_gs.data.tfds_source import tfds_source


def tfds_dataset(name: str, builder_cls) -> Dataset:
    """The catalog's `Dataset` `name`, read with `builder_cls` (see
    `prepared_source`). Options: the builder's constructor arguments."""
    return Dataset(name, functools.partial(prepared_source, name, builder_cls))


def prepared_source(name, builder_cls, request: SourceRequest) -> DomainSource:
    """The domains of `builder_cls` (a `DomainFolderBuilder`) as a source.

    The builder is prepared in `data_dir` from the archive the user
    extracted into `manual_dir` (`None`: `<data_dir>/downloads/manual`)
    when it is not yet; a FileNotFoundError gives the builder's
    `MANUAL_DOWNLOAD_INSTRUCTIONS` when that directory does not exist.
    """
    check = request.check_images
    builder = builder_cls(
        data_dir=request.data_dir,
        on_bad_image=request.on_bad_image,
        check="header" if check == "none" else check,
        **request.options,
    )
    manual_dir = request.manual_dir
    if not builder.is_prepared():
        if manual_dir is None:
            manual_dir = os.path.join(
                os.fspath(builder.data_dir_root), "downloads", "manual"
            )
        if not os.path.isdir(manual_dir):
            raise FileNotFoundError(
                f"Dataset {name!r} is not prepared in "
                f"{os.fspath(builder.data_dir_root)!r} and its "
                f"manual-download directory {manual_dir!r} does not exist."
                f"\n{builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            )
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
        )
    return tfds_source(
        {d: (builder, builder.split_name(d)) for d in builder_cls.DOMAINS},
        builder_cls.CLASS_NAMES,
    )
