"""TFDS builders for the paper's datasets; importing registers them.

`pacs`, `vlcs` and `office_home` read archives the user extracted into the
TFDS manual-download directory; each module declares its `DATASETS`
(`prepare.tfds_dataset`). DomainNet uses TFDS's own `domainnet`.
"""

from keras_gs.data.tfds_builders.office_home import OfficeHome
from keras_gs.data.tfds_builders.pacs import Pacs
from keras_gs.data.tfds_builders.vlcs import Vlcs

__all__ = ["OfficeHome", "Pacs", "Vlcs"]
