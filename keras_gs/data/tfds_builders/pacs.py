"""PACS (Li et al., ICCV 2017) as a TFDS builder named `pacs`."""

from keras_gs.data.tfds_builders.domain_folder_builder import (
    DomainFolderBuilder,
)
from keras_gs.data.tfds_builders.prepare import tfds_dataset
from keras_gs.data.tfds_builders.registration import name_is_free

import tensorflow_datasets as tfds


class Pacs(DomainFolderBuilder, skip_registration=not name_is_free("pacs")):
    """PACS: photo, art painting, cartoon and sketch images of 7 classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
    CLASS_NAMES = (
        "dog",
        "elephant",
        "giraffe",
        "guitar",
        "horse",
        "house",
        "person",
    )
    # DomainBed's download script extracts PACS.zip and renames its `kfold/`
    # folder to `PACS/`; accept either name, or the domains at the top.
    ROOT_CANDIDATES = ("kfold", "PACS", "PACS/kfold", ".")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download PACS as DomainBed's download script does (`PACS.zip`, the
    "kfold" image tree of https://domaingeneralization.github.io/#data) and
    extract it into the manual-download directory (by default
    `<data_dir>/downloads/manual/`), so that it holds

        kfold/<domain>/<class>/<image>     (or PACS/<domain>/<class>/<image>)

    with domains art_painting, cartoon, photo, sketch and classes dog,
    elephant, giraffe, guitar, horse, house, person (9,991 images).
    """
    DESCRIPTION = (
        "PACS: 9,991 images of 7 classes in 4 domains (art_painting, "
        "cartoon, photo, sketch), for domain generalization."
    )
    HOMEPAGE = "https://domaingeneralization.github.io/#data"
    CITATION = """\
@inproceedings{li2017deeper,
  title={Deeper, Broader and Artier Domain Generalization},
  author={Li, Da and Yang, Yongxin and Song, Yi-Zhe and Hospedales, Timothy M},
  booktitle={ICCV},
  year={2017}
}"""


DATASETS = (tfds_dataset("pacs", Pacs),)
