"""The table of backbones: every name `keras_gs.backbones.get` takes.

Built from the `BACKBONES` each architecture module declares; no
architecture module imports this table, so there is no cycle.
"""

from keras_gs.backbones import alexnet
from keras_gs.backbones import resnet
from keras_gs.backbones import small_cnn
from keras_gs.backbones.spec import Backbone
from keras_gs.utils.choices import check_choice

BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for module in (small_cnn, alexnet, resnet)
    for backbone in module.BACKBONES
}


def names() -> list[str]:
    """The backbone names, sorted."""
    return sorted(BACKBONES)


def find(name: str, argument: str = "name") -> Backbone:
    """The `Backbone` called `name`; a ValueError lists the valid ones."""
    check_choice(name, names(), argument, "backbone")
    return BACKBONES[name]


def with_imagenet() -> list[str]:
    """The names with torchvision ImageNet weights, sorted."""
    return sorted(n for n, b in BACKBONES.items() if b.imagenet is not None)
