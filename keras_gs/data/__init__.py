"""Input pipelines: per-domain datasets and the multi-domain training stream.

`load(name, ...)` turns a dataset (PACS, VLCS, Office-Home, DomainNet, a
folder tree, or the embedded `rotated_digits`) into the paper's per-domain
splits; `zip_domains` draws every source domain into each training batch.
`names()` lists the datasets and `get(name)` gives one's `Dataset`: each
dataset module declares its own (`spec.Dataset`), `catalog` is the table
of all of them. `load` works in three steps: it checks its arguments,
plans the splits (`split_plan`), then builds them (`build_splits`).
"""

from keras_gs.data.catalog import get
from keras_gs.data.catalog import names
from keras_gs.data.domain_names import resolve_domains
from keras_gs.data.domain_splits import DomainSplits
from keras_gs.data.load import DATASETS
from keras_gs.data.load import TEST_ON
from keras_gs.data.load import load
from keras_gs.data.zip_domains import TrainingDomain
from keras_gs.data.zip_domains import zip_domains

__all__ = [
    "DATASETS",
    "DomainSplits",
    "get",
    "load",
    "names",
    "resolve_domains",
    "TEST_ON",
    "TrainingDomain",
    "zip_domains",
]
