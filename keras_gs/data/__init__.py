"""Input pipelines: per-domain datasets and the multi-domain training stream.

`load(name, ...)` turns a dataset (PACS, VLCS, Office-Home, DomainNet, a
folder tree, or the embedded `rotated_digits`) into the paper's per-domain
splits; `zip_domains` draws every source domain into each training batch.
"""

from keras_gs.data.domain_names import resolve_domains
from keras_gs.data.domain_splits import DomainSplits
from keras_gs.data.load import DATASETS
from keras_gs.data.load import TEST_ON
from keras_gs.data.load import load
from keras_gs.data.zip_domains import TrainingDomain
from keras_gs.data.zip_domains import zip_domains

__all__ = ["DATASETS", "DomainSplits", "load", "resolve_domains", "TEST_ON", "TrainingDomain", "zip_domains"]
