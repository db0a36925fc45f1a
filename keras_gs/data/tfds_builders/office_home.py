"""Office-Home (Venkateswara et al., CVPR 2017) as TFDS's `office_home`."""

from keras_gs.data.tfds_builders.domain_folder_builder import (
    DomainFolderBuilder,
)
from keras_gs.data.tfds_builders.prepare import tfds_dataset
from keras_gs.data.tfds_builders.registration import name_is_free

import tensorflow_datasets as tfds

# The class folder names of OfficeHomeDataset_10072016, sorted as the
# folders list (so labels match `sorted(os.listdir(domain))`).
_CLASS_NAMES = tuple(
    sorted(
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
)


class OfficeHome(
    DomainFolderBuilder, skip_registration=not name_is_free("office_home")
):
    """Office-Home: Art, Clipart, Product, Real World images of 65 classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DOMAINS = ("Art", "Clipart", "Product", "Real World")
    CLASS_NAMES = _CLASS_NAMES
    # DomainBed's download script renames the folder to `office_home/`.
    ROOT_CANDIDATES = ("OfficeHomeDataset_10072016", "office_home", ".")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download the original `OfficeHomeDataset_10072016.zip` (from
    https://www.hemanthdv.org/officeHomeDataset.html, or as DomainBed's
    download script does) and extract it into the manual-download directory
    (by default `<data_dir>/downloads/manual/`), so that it holds

        OfficeHomeDataset_10072016/<domain>/<class>/<image>

    with domains Art, Clipart, Product, "Real World" and the 65 class
    folders (Alarm_Clock ... Webcam), 15,588 images. The archive's
    ImageInfo.csv and imagelist.txt are not needed.
    """
    DESCRIPTION = (
        "Office-Home: 15,588 images of 65 everyday objects in 4 domains "
        "(Art, Clipart, Product, Real World), for domain adaptation and "
        "generalization."
    )
    HOMEPAGE = "https://www.hemanthdv.org/officeHomeDataset.html"
    CITATION = """\
@inproceedings{venkateswara2017deep,
  title={Deep Hashing Network for Unsupervised Domain Adaptation},
  author={Venkateswara, Hemanth and Eusebio, Jose and Chakraborty, Shayok
          and Panchanathan, Sethuraman},
  booktitle={CVPR},
  year={2017}
}"""


DATASETS = (tfds_dataset("office_home", OfficeHome),)
