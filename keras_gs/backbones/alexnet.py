"""`alexnet`: torchvision's AlexNet, the paper's backbone, in Keras."""

import keras

from keras_gs.backbones.layers import AdaptiveAveragePooling2D
from keras_gs.backbones.layers import torch_conv_initializers
from keras_gs.backbones.layers import torch_dense_initializers
from keras_gs.backbones.spec import Backbone
from keras_gs.backbones.spec import ImagenetSource

# The smallest input whose last max pooling still has a 3x3 window.
MIN_SIZE = 63

# (layer name, filters, kernel size, stride, padding) of torchvision's
# `features`; a 3x3/2 max pooling follows conv1, conv2 and conv5.
_CONVS = (
    ("conv1", 64, 11, 4, 2),
    ("conv2", 192, 5, 1, 2),
    ("conv3", 384, 3, 1, 1),
    ("conv4", 256, 3, 1, 1),
    ("conv5", 256, 3, 1, 1),
)
_POOL_AFTER = {"conv1": "pool1", "conv2": "pool2", "conv5": "pool5"}


def alexnet(
    input_shape: tuple[int, int, int], num_classes: int, dropout: float = 0.5
) -> keras.Model:
    """torchvision's AlexNet, layer for layer, channels last.

    The features (five convolutions with ReLU, three 3x3/2 max poolings),
    an adaptive average pooling to 6x6 (the identity at 224x224), then the
    classifier: dropout, `fc6` (9216 -> 4096), ReLU, dropout, `fc7` (4096
    -> 4096), ReLU, and `logits` (4096 -> `num_classes`), the layer the
    paper replaces. Layer names and their torchvision keys: `conv1`..`conv5`
    = `features.0/3/6/8/10`, `fc6` = `classifier.1`, `fc7` =
    `classifier.4`, `logits` = `classifier.6`. Random weights are drawn as
    torch's defaults. Images ImageNet-normalized, as `keras_gs.data.load`
    gives them.

    Args:
        input_shape: tuple of int, `(height, width, channels)`; height and
            width at least 63 (the paper uses 224).
        num_classes: int, the number of logits.
        dropout: float, the rate of both dropouts of the classifier.
            Defaults to `0.5` (torchvision's).

    Example:

    ```python
    model = keras_gs.backbones.get("alexnet", (224, 224, 3), 7,
                                   weights="imagenet")
    ```

    Reference: [One weird trick for parallelizing convolutional neural
    networks](https://arxiv.org/abs/1404.5997) (torchvision's variant).
    """
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None or min(height, width) < MIN_SIZE:
        raise ValueError(
            f"alexnet: images must be at least {MIN_SIZE}x{MIN_SIZE} "
            f"pixels, with a fixed size. Received: input_shape={input_shape}"
        )
    x = inputs = keras.Input(input_shape, name="images")
    channels = input_shape[-1]
    for name, filters, kernel, stride, padding in _CONVS:
        kernel_init, bias_init = torch_conv_initializers(kernel, channels)
        if stride == 1:
            # Symmetric padding (k - 1) / 2 at stride 1 is Keras's "same".
            mode = "same"
        else:
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
            mode = "valid"
        x = keras.layers.Conv2D(
            filters,
            kernel,
            stride,
            mode,
            activation="relu",
            kernel_initializer=kernel_init,
            bias_initializer=bias_init,
            name=name,
        )(x)
        channels = filters
        if name in _POOL_AFTER:
            x = keras.layers.MaxPooling2D(3, 2, name=_POOL_AFTER[name])(x)
    x = AdaptiveAveragePooling2D((6, 6), name="avgpool")(x)
    # Flattened (h, w, c); the weight port reorders fc6's rows from torch's
    # (c, h, w).
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout6")(x)
    x = _dense(x, 4096, 6 * 6 * channels, "fc6", activation="relu")
    x = keras.layers.Dropout(dropout, name="dropout7")(x)
    x = _dense(x, 4096, 4096, "fc7", activation="relu")
    outputs = _dense(x, num_classes, 4096, "logits")
    return keras.Model(inputs, outputs, name="alexnet")


def _dense(x, units, fan_in, name, activation=None):
    kernel_init, bias_init = torch_dense_initializers(fan_in)
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=kernel_init,
        bias_initializer=bias_init,
        name=name,
    )(x)


BACKBONES = (
    Backbone(
        "alexnet",
        alexnet,
        imagenet=ImagenetSource(
            "torchvision.models.AlexNet_Weights.IMAGENET1K_V1",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        ),
        # Keras layer name -> torchvision module name.
        torch_names={
            "conv1": "features.0",
            "conv2": "features.3",
            "conv3": "features.6",
            "conv4": "features.8",
            "conv5": "features.10",
            "fc6": "classifier.1",
            "fc7": "classifier.4",
            "logits": "classifier.6",
        },
        # fc6 reads features flattened as (c, h, w) in torch.
        flattened={"fc6": (256, 6, 6)},
    ),
)
