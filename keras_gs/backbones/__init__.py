"""Backbones: networks from images to logits, chosen by name.

`get(name, input_shape, num_classes, weights=None, **kwargs)` builds one;
`names()` lists them. Each name maps to a builder module in this package.
"""

from keras_gs.backbones.registry import get
from keras_gs.backbones.registry import names

__all__ = ["get", "names"]
