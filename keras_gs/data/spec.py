"""`Dataset`: what a dataset name stands for, declared by its module.

Each dataset module (`rotated_digits`, `folder`, `domainnet`, and the
TFDS builders `tfds_builders.pacs`, `.vlcs`, `.office_home`) declares its
datasets as a tuple `DATASETS` of `Dataset`s: the name users type and how
`load` gets the dataset's examples (`SourceRequest` -> `DomainSource`).
`catalog` gathers them into the one table.
"""

import dataclasses
from collections.abc import Callable

from keras_gs.data.domain_source import DomainSource


@dataclasses.dataclass(frozen=True)
class SourceRequest:
    """What `load` passes a dataset to get its examples.

    Args:
        data_dir: str or None, `load`'s `data_dir`.
        manual_dir: str or None, `load`'s `manual_dir`.
        sizes: tuple of int or None, the checked `image_size` (None: the
            dataset's default).
        check_images: str, `load`'s `check_images`.
        on_bad_image: str, `load`'s `on_bad_image`.
        options: dict, `load`'s `dataset_kwargs` (a copy).
    """

    data_dir: str | None
    manual_dir: str | None
    sizes: tuple[int, ...] | None
    check_images: str
    on_bad_image: str
    options: dict


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset name users type and how to read it.

    Args:
        name: str, the name (`keras_gs.data.load(name, ...)`).
        make_source: callable `(SourceRequest) -> DomainSource`.
        built_at_size: bool, whether the source makes its images at the
            requested size (its `image_size` is then final: `load` resizes
            nothing). Defaults to `False`.
    """

    name: str
    make_source: Callable[[SourceRequest], DomainSource]
    built_at_size: bool = False

    def source(self, request: SourceRequest) -> DomainSource:
        return self.make_source(request)
