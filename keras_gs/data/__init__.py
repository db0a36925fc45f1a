"""Input pipelines: per-domain datasets and the multi-domain training stream."""

from keras_gs.data.zip_domains import zip_domains

__all__ = ["zip_domains"]
