"""Layers and initializers that reproduce torchvision's behaviour in Keras.

`AdaptiveAveragePooling2D` is torch's `AdaptiveAvgPool2d`;
`FrozenStatsBatchNormalization` is a BatchNorm that DomainBed's `freeze_bn`
has put in eval mode; `torch_dense_initializers` and
`torch_conv_initializers` are torch's default `nn.Linear`/`nn.Conv2d`
initializations.
"""

import math

import keras
import numpy as np
from keras import ops


def adaptive_pooling_matrix(size: int, output_size: int) -> np.ndarray:
    """The `(output_size, size)` matrix of torch's adaptive average pooling.

    Output bin i averages the inputs `floor(i * size / output_size)` to
    `ceil((i + 1) * size / output_size) - 1`: the bins tile the input when
    `output_size` divides `size`, overlap otherwise, and repeat inputs when
    `size < output_size`.
    """
    matrix = np.zeros((output_size, size), "float32")
    for i in range(output_size):
        start = (i * size) // output_size
        end = -((-(i + 1) * size) // output_size)  # ceil
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="keras_gs")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average pooling to a fixed output size, as torch's `AdaptiveAvgPool2d`.

    Works for any input size, including sizes that `output_size` does not
    divide and sizes smaller than it (inputs are then repeated), exactly as
    torch does. Returns its input unchanged when its spatial size already
    equals `output_size` (AlexNet at 224x224). Needs a static height and
    width. Channels last.

    Args:
        output_size: tuple of 2 int, `(height, width)` of the output.

    Example:

    ```python
    pool = AdaptiveAveragePooling2D((6, 6))
    pool(np.ones((2, 13, 13, 256), "float32")).shape  # (2, 6, 6, 256)
    ```
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        self.output_size = tuple(int(s) for s in output_size)
        if len(self.output_size) != 2 or min(self.output_size) < 1:
            raise ValueError(
                "AdaptiveAveragePooling2D: `output_size` must be 2 positive "
                f"ints. Received: output_size={output_size}"
            )

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            raise ValueError(
                f"{self.name}: adaptive pooling needs a static height and "
                f"width. Received: input_shape={input_shape}"
            )
        self._identity = (height, width) == self.output_size
        self._rows = adaptive_pooling_matrix(height, self.output_size[0])
        self._cols = adaptive_pooling_matrix(width, self.output_size[1])

    def call(self, inputs):
        if self._identity:
            return inputs
        rows = ops.cast(self._rows, inputs.dtype)
        cols = ops.cast(self._cols, inputs.dtype)
        x = ops.einsum("nhwc,ih->niwc", inputs, rows)
        return ops.einsum("niwc,jw->nijc", x, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="keras_gs")
class FrozenStatsBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization that always normalizes with its moving statistics.

    DomainBed's `freeze_bn`: in training too, the layer uses and never
    updates its moving mean and variance (torch's `BatchNorm2d.eval()`),
    while gamma and beta are still trained. Keras's own convention,
    `trainable=False` (what `GradSurgeryModel(freeze_batchnorm=True)` sets),
    also freezes gamma and beta.

    Takes the arguments of `keras.layers.BatchNormalization`.
    """

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False, mask=mask)


def torch_dense_initializers(fan_in: int):
    """torch's default `nn.Linear`/`nn.Conv2d` initialization, for Keras.

    Kernel and bias uniform in `+-1/sqrt(fan_in)` (torch's
    `kaiming_uniform_(a=sqrt(5))` and its bias rule).

    Returns:
        `(kernel_initializer, bias_initializer)`, new instances.
    """
    bound = 1.0 / math.sqrt(fan_in)
    return (
        keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
        keras.initializers.RandomUniform(-bound, bound),
    )


def torch_conv_initializers(kernel_size: int, in_channels: int):
    """`torch_dense_initializers` for a conv layer: fan_in = k * k * in."""
    return torch_dense_initializers(kernel_size * kernel_size * in_channels)


def kaiming_normal_fan_out():
    """torchvision ResNet's conv init: `kaiming_normal_(mode="fan_out")`."""
    return keras.initializers.VarianceScaling(
        2.0, "fan_out", "untruncated_normal"
    )
