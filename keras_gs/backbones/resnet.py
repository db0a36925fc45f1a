"""`resnet18`, `resnet50`: torchvision's ResNets, DomainBed's backbones."""

import keras

from keras_gs.backbones.layers import FrozenStatsBatchNormalization
from keras_gs.backbones.layers import kaiming_normal_fan_out
from keras_gs.backbones.layers import torch_dense_initializers
from keras_gs.backbones.spec import Backbone
from keras_gs.backbones.spec import ImagenetSource

# torch's BatchNorm2d defaults: eps 1e-5; its momentum 0.1 weighs the new
# batch, Keras's momentum weighs the old average, so 0.9.
BATCHNORM_EPSILON = 1e-5
BATCHNORM_MOMENTUM = 0.9

_EXPANSION = {"basic": 1, "bottleneck": 4}


def resnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    block: str,
    stages: tuple[int, ...],
    name: str,
    freeze_batchnorm_stats: bool = False,
    dropout: float = 0.0,
) -> keras.Model:
    """torchvision's ResNet, layer for layer, channels last.

    `resnet18` and `resnet50` are its presets (`BACKBONES`): build them
    with `keras_gs.backbones.get("resnet18", ...)`.

    A 7x7/2 convolution, BatchNorm, ReLU, a 3x3/2 max pooling, four stages
    of residual blocks (basic blocks for ResNet-18; bottlenecks with the
    stride on the 3x3 convolution, "v1.5", for ResNet-50), global average
    pooling, and `logits`, the layer that DomainBed replaces. Paddings are
    torch's (symmetric, explicit where Keras's "same" would differ), convs
    have no bias, BatchNorm has torch's epsilon 1e-5 and momentum.
    Layer names are torchvision's module names (`conv1`, `bn1`,
    `layer1.0.conv1`, `layer2.0.downsample.0`...), except `fc`, here
    `logits`. Random weights are drawn as torchvision does. Images
    ImageNet-normalized, as `keras_gs.data.load` gives them.

    Args:
        input_shape: tuple of int, `(height, width, channels)`.
        num_classes: int, the number of logits.
        block: str, `"basic"` or `"bottleneck"` (the preset's).
        stages: tuple of int, blocks per stage (the preset's).
        name: str, the model's name (the preset's).
        freeze_batchnorm_stats: bool, DomainBed's frozen BatchNorm: every
            BatchNorm normalizes with its moving (ImageNet) statistics in
            training too and never updates them; gamma and beta are still
            trained. (`GradSurgeryModel(freeze_batchnorm=True)` freezes
            gamma and beta too.) Defaults to `False`.
        dropout: float, dropout rate before `logits` (DomainBed's
            `resnet_dropout`). Defaults to `0.0`.

    Example:

    ```python
    model = keras_gs.backbones.get("resnet18", (224, 224, 3), 7,
                                   weights="imagenet",
                                   freeze_batchnorm_stats=True)
    ```

    Reference: [Deep Residual Learning for Image Recognition](
    https://arxiv.org/abs/1512.03385).
    """
    layers = _Layers(freeze_batchnorm_stats)
    x = inputs = keras.Input(input_shape, name="images")
    x = layers.conv(x, 64, 7, 2, "conv1")
    x = layers.relu(layers.bn(x, "bn1"), "relu")
    # Zero padding instead of torch's -inf is exact after a ReLU.
    x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="maxpool")(x)
    for stage, blocks in enumerate(stages):
        filters = 64 * 2**stage
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            prefix = f"layer{stage + 1}.{index}"
            if block == "basic":
                x = _basic_block(layers, x, filters, stride, prefix)
            else:
                x = _bottleneck(layers, x, filters, stride, prefix)
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    features = 512 * _EXPANSION[block]
    kernel_init, bias_init = torch_dense_initializers(features)
    outputs = keras.layers.Dense(
        num_classes,
        kernel_initializer=kernel_init,
        bias_initializer=bias_init,
        name="logits",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def _basic_block(layers, x, filters, stride, prefix):
    y = layers.conv(x, filters, 3, stride, f"{prefix}.conv1")
    y = layers.relu(layers.bn(y, f"{prefix}.bn1"), f"{prefix}.relu1")
    y = layers.conv(y, filters, 3, 1, f"{prefix}.conv2")
    y = layers.bn(y, f"{prefix}.bn2")
    return _residual(layers, x, y, filters, stride, prefix)


def _bottleneck(layers, x, filters, stride, prefix):
    y = layers.conv(x, filters, 1, 1, f"{prefix}.conv1")
    y = layers.relu(layers.bn(y, f"{prefix}.bn1"), f"{prefix}.relu1")
    y = layers.conv(y, filters, 3, stride, f"{prefix}.conv2")
    y = layers.relu(layers.bn(y, f"{prefix}.bn2"), f"{prefix}.relu2")
    y = layers.conv(y, filters * 4, 1, 1, f"{prefix}.conv3")
    y = layers.bn(y, f"{prefix}.bn3")
    return _residual(layers, x, y, filters * 4, stride, prefix)


def _residual(layers, x, y, filters, stride, prefix):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.conv(x, filters, 1, stride, f"{prefix}.downsample.0")
        shortcut = layers.bn(shortcut, f"{prefix}.downsample.1")
    y = keras.layers.Add(name=f"{prefix}.add")([y, shortcut])
    return layers.relu(y, f"{prefix}.relu")


class _Layers:
    """Builds convs and BatchNorms the torchvision way."""

    def __init__(self, freeze_batchnorm_stats):
        self.batchnorm = (
            FrozenStatsBatchNormalization
            if freeze_batchnorm_stats
            else keras.layers.BatchNormalization
        )

    def conv(self, x, filters, kernel, stride, name):
        """A bias-free conv with torch's padding `kernel // 2`."""
        padding = kernel // 2
        if padding and stride > 1:
            # Keras's "same" pads (0, 1) at stride 2 on an even size; torch
            # pads (1, 1).
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        return keras.layers.Conv2D(
            filters,
            kernel,
            stride,
            "same" if padding and stride == 1 else "valid",
            use_bias=False,
            kernel_initializer=kaiming_normal_fan_out(),
            name=name,
        )(x)

    def bn(self, x, name):
        return self.batchnorm(
            epsilon=BATCHNORM_EPSILON, momentum=BATCHNORM_MOMENTUM, name=name
        )(x)

    def relu(self, x, name):
        return keras.layers.ReLU(name=name)(x)


def _preset(name, block, stages, enum, url):
    return Backbone(
        name,
        resnet,
        preset={"block": block, "stages": stages, "name": name},
        imagenet=ImagenetSource(enum, url),
        torch_names={"logits": "fc"},
    )


BACKBONES = (
    _preset(
        "resnet18",
        "basic",
        (2, 2, 2, 2),
        "torchvision.models.ResNet18_Weights.IMAGENET1K_V1",
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    ),
    _preset(
        "resnet50",
        "bottleneck",
        (3, 4, 6, 3),
        "torchvision.models.ResNet50_Weights.IMAGENET1K_V1",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    ),
)
