"""VLCS (Fang et al., ICCV 2013) as a TFDS builder named `vlcs`."""

from keras_gs.data.tfds_builders.domain_folder_builder import (
    DomainFolderBuilder,
)
from keras_gs.data.tfds_builders.prepare import tfds_dataset
from keras_gs.data.tfds_builders.registration import name_is_free

import tensorflow_datasets as tfds


class Vlcs(DomainFolderBuilder, skip_registration=not name_is_free("vlcs")):
    """VLCS: Caltech101, LabelMe, SUN09 and VOC2007 images of 5 classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DOMAINS = ("Caltech101", "LabelMe", "SUN09", "VOC2007")
    CLASS_NAMES = ("bird", "car", "chair", "dog", "person")
    ROOT_CANDIDATES = ("VLCS", ".")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download VLCS as DomainBed's download script does (`VLCS.tar.gz`) and
    extract it into the manual-download directory (by default
    `<data_dir>/downloads/manual/`), so that it holds

        VLCS/<domain>/<class>/<image>

    with domains Caltech101, LabelMe, SUN09, VOC2007 and classes bird, car,
    chair, dog, person (10,729 images).
    """
    DESCRIPTION = (
        "VLCS: 10,729 images of 5 classes from 4 datasets (Caltech101, "
        "LabelMe, SUN09, VOC2007), for domain generalization."
    )
    HOMEPAGE = "https://github.com/facebookresearch/DomainBed"
    CITATION = """\
@inproceedings{fang2013unbiased,
  title={Unbiased Metric Learning: On the Utilization of Multiple Datasets
         and Web Images for Softening Bias},
  author={Fang, Chen and Xu, Ye and Rockmore, Daniel N},
  booktitle={ICCV},
  year={2013}
}"""


DATASETS = (tfds_dataset("vlcs", Vlcs),)
