"""`Backbone`: what a backbone name stands for, declared by its module.

Each architecture module (`small_cnn`, `alexnet`, `resnet`) declares its
backbones as a tuple `BACKBONES` of `Backbone`s: the builder, the preset
arguments of the name (ResNet-18 and ResNet-50 are two presets of one
builder), where its ImageNet weights come from, and how its layers are
named in torchvision. `catalog` gathers them into the one table.
"""

import dataclasses
import inspect
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ImagenetSource:
    """torchvision's ImageNet weights of a backbone.

    Args:
        enum: str, the torchvision weights enum (what `pretrained=True`
            loads in the paper's code and DomainBed).
        url: str, the state dict torchvision downloads.
    """

    enum: str
    url: str


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A backbone name users type and how to build it.

    Args:
        name: str, the name (`keras_gs.backbones.get(name, ...)`).
        builder: callable `(input_shape, num_classes, **arguments)` returning
            a `keras.Model` named `name`.
        preset: dict, the builder arguments this name fixes.
        imagenet: `ImagenetSource` or None.
        torch_names: dict, Keras layer name -> torchvision module name,
            where they differ.
        flattened: dict, Keras dense layer name -> the `(channels, height,
            width)` of its input in torch, for dense layers fed by a
            flattened feature map (their rows are reordered on porting).
    """

    name: str
    builder: Callable
    preset: dict = dataclasses.field(default_factory=dict)
    imagenet: ImagenetSource | None = None
    torch_names: dict = dataclasses.field(default_factory=dict)
    flattened: dict = dataclasses.field(default_factory=dict)

    def options(self) -> list[str]:
        """The builder's arguments a user may set (after the first two)."""
        parameters = list(inspect.signature(self.builder).parameters)[2:]
        return [p for p in parameters if p not in self.preset]

    def build(self, input_shape, num_classes, **options):
        return self.builder(
            tuple(input_shape), int(num_classes), **self.preset, **options
        )

    def torch_name(self, layer: str) -> str:
        """The torchvision module name of Keras layer `layer`."""
        return self.torch_names.get(layer, layer)
