"""Backbones: networks from images to logits, chosen by name.

`get(name, input_shape, num_classes, weights=None, **kwargs)` builds one;
`names()` lists them. Each architecture module (`small_cnn`, `alexnet`,
`resnet`) declares its names, presets, ImageNet source and torchvision
layer names (`spec.Backbone`); `catalog` is the table of all of them.
`port_torchvision_weights(arch, input_path)` ports torchvision's ImageNet
weights for `weights="imagenet"`.
"""

from keras_gs.backbones.build import get
from keras_gs.backbones.build import names
from keras_gs.backbones.torchvision_port import port as port_torchvision_weights

__all__ = ["get", "names", "port_torchvision_weights"]
