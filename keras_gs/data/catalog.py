"""The table of datasets: every name `keras_gs.data.load` takes.

Built from the `DATASETS` each dataset module declares, in the order
below (the paper's datasets first); no dataset module imports this
table, so there is no cycle.
"""

from keras_gs.data import domainnet
from keras_gs.data import folder
from keras_gs.data import rotated_digits
from keras_gs.data.spec import Dataset
from keras_gs.data.tfds_builders import office_home
from keras_gs.data.tfds_builders import pacs
from keras_gs.data.tfds_builders import vlcs
from keras_gs.utils.choices import check_choice

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for module in (pacs, vlcs, office_home, domainnet, folder, rotated_digits)
    for dataset in module.DATASETS
}


def names() -> list[str]:
    """The dataset names, in the catalog's order."""
    return list(DATASETS)


def get(name: str, argument: str = "name") -> Dataset:
    """The `Dataset` called `name`; a ValueError lists the valid ones."""
    check_choice(name, names(), argument, "dataset")
    return DATASETS[name]
