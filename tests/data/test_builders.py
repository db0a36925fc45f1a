"""Runs our TFDS builders on dummy archives written by the tests.

`tfds.testing.DatasetBuilderTestCase` prepares each builder with the
dummy directory as its manual-download directory, reads every split back
(eager mode), checks the example counts, that no example is in two splits,
the registration under the builder's name, and a reload from disk.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_gs.data.tfds_builders import OfficeHome
from keras_gs.data.tfds_builders import Pacs
from keras_gs.data.tfds_builders import Vlcs
from keras_gs.data.tfds_builders.domain_folder_builder import (
    DomainFolderBuilder,
)

# image_files.py lies beside this file (pytest puts tests/data on the path).
from image_files import CLASS_COLORS
from image_files import make_tree
from image_files import write_bad

# PACS dummy data mixes formats: the GIF and palette BMP are stored as PNG
# (TFDS cannot decode them as they are), the others as they are.
_PACS_KINDS = ("jpeg", "gif", "bmp_palette", "png_rgba", "jpeg_cmyk")


class _DummyArchive:
    """Writes the dummy archive in setUpClass, removes it in tearDownClass."""

    SUBDIR = "."
    PER_CLASS = 1
    KINDS = ("png",)
    @property
    def test_session(self):
        # tf.test.TestCase's `test_session` method is collected by pytest
        # and reported as skipped ("Not a test"); as a property it is not
        # collected, and TFDS's graph-mode run still gets the method.
        return super().test_session

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.mkdtemp()
        builder = cls.DATASET_CLASS
        make_tree(
            os.path.join(cls._tmp, cls.SUBDIR),
            builder.DOMAINS,
            builder.CLASS_NAMES,
            cls.PER_CLASS,
            cls.KINDS,
        )
        cls.EXAMPLE_DIR = cls._tmp
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls._tmp)


class PacsTest(_DummyArchive, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = Pacs
    SUBDIR = "kfold"  # As in PACS.zip.
    PER_CLASS = 2
    KINDS = _PACS_KINDS
    # 7 classes x 2 images per domain.
    SPLITS = {"art_painting": 14, "cartoon": 14, "photo": 14, "sketch": 14}


class VlcsTest(_DummyArchive, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = Vlcs
    SUBDIR = "VLCS"
    # 5 classes x 1 image per domain; split names are lower case.
    SPLITS = {"caltech101": 5, "labelme": 5, "sun09": 5, "voc2007": 5}


class OfficeHomeTest(_DummyArchive, tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = OfficeHome
    SUBDIR = "OfficeHomeDataset_10072016"
    KINDS = ("jpeg",)
    # 65 classes x 1 image per domain; "Real World" -> "real_world".
    SPLITS = {"art": 65, "clipart": 65, "product": 65, "real_world": 65}


def test_class_lists():
    assert Pacs.CLASS_NAMES == (
        "dog", "elephant", "giraffe", "guitar", "horse", "house", "person",
    )
    assert Vlcs.CLASS_NAMES == ("bird", "car", "chair", "dog", "person")
    # The folder names of OfficeHomeDataset_10072016, in `ls` order.
    assert OfficeHome.CLASS_NAMES == tuple(
        """
        Alarm_Clock Backpack Batteries Bed Bike Bottle Bucket Calculator
        Calendar Candles Chair Clipboards Computer Couch Curtains Desk_Lamp
        Drill Eraser Exit_Sign Fan File_Cabinet Flipflops Flowers Folder Fork
        Glasses Hammer Helmet Kettle Keyboard Knives Lamp_Shade Laptop Marker
        Monitor Mop Mouse Mug Notebook Oven Pan Paper_Clip Pen Pencil
        Postit_Notes Printer Push_Pin Radio Refrigerator Ruler Scissors
        Screwdriver Shelf Sink Sneakers Soda Speaker Spoon TV Table Telephone
        ToothBrush Toys Trash_Can Webcam
        """.split()
    )
    assert len(set(OfficeHome.CLASS_NAMES)) == 65


def test_registered_names():
    assert tfds.builder_cls("pacs") is Pacs
    assert tfds.builder_cls("vlcs") is Vlcs
    assert tfds.builder_cls("office_home") is OfficeHome
    # The shared base is not a dataset.
    with pytest.raises(tfds.core.DatasetNotFoundError):
        tfds.builder_cls("domain_folder_builder")
    assert issubclass(Pacs, DomainFolderBuilder)


def test_pixels_and_labels_survive_the_build(tmp_path):
    manual = tmp_path / "manual"
    make_tree(
        manual / "PACS", Pacs.DOMAINS, Pacs.CLASS_NAMES, 1,
        ("gif", "bmp_palette", "png_rgba"),
    )
    builder = Pacs(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual))
    )
    examples = list(tfds.as_numpy(builder.as_dataset(split="cartoon")))
    assert len(examples) == 7
    for example in examples:
        assert example["domain"] == Pacs.DOMAINS.index("cartoon")
        np.testing.assert_array_equal(
            example["image"][0, 0], CLASS_COLORS[example["label"]]
        )


def test_missing_archive_names_the_instructions(tmp_path):
    os.makedirs(tmp_path / "kfold" / "photo")
    with pytest.raises(FileNotFoundError) as error:
        Pacs.find_root(tmp_path)
    message = str(error.value)
    assert "art_painting" in message and "kfold" in message
    assert "PACS.zip" in message  # The manual download instructions.


def test_bad_image_stops_the_build_or_is_skipped(tmp_path):
    manual = tmp_path / "manual"
    make_tree(manual / "VLCS", Vlcs.DOMAINS, Vlcs.CLASS_NAMES, 2)
    bad = write_bad(str(manual / "VLCS" / "SUN09" / "dog" / "x.jpg"), "text")
    config = tfds.download.DownloadConfig(manual_dir=str(manual))
    with pytest.raises(ValueError, match="Found 1 unreadable") as error:
        Vlcs(data_dir=str(tmp_path / "a")).download_and_prepare(
            download_config=config
        )
    assert bad in str(error.value)
    builder = Vlcs(data_dir=str(tmp_path / "b"), on_bad_image="skip")
    builder.download_and_prepare(download_config=config)
    assert builder.info.splits["sun09"].num_examples == 10  # 5 x 2, not 11.
