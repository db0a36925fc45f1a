"""TFDS builders for the paper's datasets; importing registers them.

`pacs`, `vlcs` and `office_home` read archives the user extracted into the
TFDS manual-download directory. DomainNet uses TFDS's own `domainnet`.
"""

from keras_gs.data.tfds_builders.office_home import OfficeHome
from keras_gs.data.tfds_builders.pacs import Pacs
from keras_gs.data.tfds_builders.vlcs import Vlcs

BUILDERS = {"pacs": Pacs, "vlcs": Vlcs, "office_home": OfficeHome}

__all__ = ["BUILDERS", "OfficeHome", "Pacs", "Vlcs"]
