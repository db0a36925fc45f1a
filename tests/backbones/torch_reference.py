"""torchvision's AlexNet and ResNets in NumPy, for checking the port.

Written from torchvision's module definitions (`torchvision/models/
alexnet.py`, `resnet.py`): NCHW tensors, state dicts under torchvision's
keys, eval mode (no dropout, BatchNorm with running statistics). Computes
in float64. Nothing here imports torch or keras_gs. Checked once against
torchvision 0.26 itself (its models in float64 on these state dicts): equal
to 1e-14, with the same keys and shapes.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# torchvision's `features`: (index, out, in, kernel, stride, padding).
ALEXNET_CONVS = (
    (0, 64, 3, 11, 4, 2),
    (3, 192, 64, 5, 1, 2),
    (6, 384, 192, 3, 1, 1),
    (8, 256, 384, 3, 1, 1),
    (10, 256, 256, 3, 1, 1),
)
ALEXNET_POOL_AFTER = (0, 3, 10)
RESNETS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}


# -- the state dicts ---------------------------------------------------------


def alexnet_state_dict(rng, num_classes=1000):
    sd = {}
    for index, out, inp, k, _, _ in ALEXNET_CONVS:
        sd[f"features.{index}.weight"] = _he(rng, (out, inp, k, k))
        sd[f"features.{index}.bias"] = _small(rng, (out,))
    for index, out, inp in ((1, 4096, 256 * 6 * 6), (4, 4096, 4096)):
        sd[f"classifier.{index}.weight"] = _he(rng, (out, inp))
        sd[f"classifier.{index}.bias"] = _small(rng, (out,))
    sd["classifier.6.weight"] = _he(rng, (num_classes, 4096), gain=1.0)
    sd["classifier.6.bias"] = _small(rng, (num_classes,))
    return sd


def resnet_state_dict(rng, depth, num_classes=1000):
    block, stages = RESNETS[depth]
    sd = {"conv1.weight": _he(rng, (64, 3, 7, 7))}
    _batchnorm(rng, sd, "bn1", 64)
    inplanes = 64
    for stage, blocks in enumerate(stages):
        planes = 64 * 2**stage
        for index in range(blocks):
            p = f"layer{stage + 1}.{index}"
            if block == "basic":
                convs = [(planes, inplanes, 3), (planes, planes, 3)]
                out = planes
            else:
                convs = [
                    (planes, inplanes, 1),
                    (planes, planes, 3),
                    (planes * 4, planes, 1),
                ]
                out = planes * 4
            for i, (o, c, k) in enumerate(convs):
                sd[f"{p}.conv{i + 1}.weight"] = _he(rng, (o, c, k, k))
                # A small last gamma keeps the random residual stream, and
                # so the logits, near 1, where float32's rounding is well
                # below the 1e-4 tolerance.
                last = i == len(convs) - 1
                _batchnorm(rng, sd, f"{p}.bn{i + 1}", o, 0.2 if last else 1.0)
            if index == 0 and (stage > 0 or inplanes != out):
                sd[f"{p}.downsample.0.weight"] = _he(rng, (out, inplanes, 1, 1))
                _batchnorm(rng, sd, f"{p}.downsample.1", out)
            inplanes = out
    sd["fc.weight"] = _he(rng, (num_classes, inplanes), gain=1.0)
    sd["fc.bias"] = _small(rng, (num_classes,))
    return sd


def _he(rng, shape, gain=2.0):
    fan_in = int(np.prod(shape[1:]))
    std = np.float32(np.sqrt(gain / fan_in))
    return rng.standard_normal(shape, dtype=np.float32) * std


def _small(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)


def _batchnorm(rng, sd, prefix, channels, gamma=1.0):
    sd[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, channels).astype(
        "float32"
    ) * np.float32(gamma)
    sd[f"{prefix}.bias"] = _small(rng, (channels,))
    sd[f"{prefix}.running_mean"] = _small(rng, (channels,))
    sd[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, channels).astype(
        "float32"
    )
    sd[f"{prefix}.num_batches_tracked"] = np.array(7, "int64")


# -- torch's operations, NCHW ------------------------------------------------


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """torch.nn.functional.conv2d: cross-correlation, zero padding."""
    x = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    k = weight.shape[2:]
    windows = sliding_window_view(x, k, axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(
        windows, weight.astype("float64"), ([1, 4, 5], [1, 2, 3])
    )
    out = out.transpose(0, 3, 1, 2)  # (n, h, w, o) -> (n, o, h, w)
    if bias is not None:
        out = out + bias.astype("float64")[None, :, None, None]
    return out


def max_pool2d(x, kernel, stride, padding=0):
    """torch.nn.MaxPool2d: -inf padding, floor mode."""
    x = np.pad(
        x,
        ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2),
        constant_values=-np.inf,
    )
    windows = sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(4, 5))


def adaptive_avg_pool2d(x, size):
    """torch.nn.AdaptiveAvgPool2d: bin i spans [floor(iH/s), ceil((i+1)H/s))."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, size, size))
    for i in range(size):
        h0, h1 = (i * h) // size, -(-(i + 1) * h // size)
        for j in range(size):
            w0, w1 = (j * w) // size, -(-(j + 1) * w // size)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def batch_norm_eval(x, sd, prefix, eps=1e-5):
    """torch.nn.BatchNorm2d in eval mode: the running statistics."""

    def vector(name):
        return sd[f"{prefix}.{name}"].astype("float64")[None, :, None, None]

    mean, var = vector("running_mean"), vector("running_var")
    return (x - mean) / np.sqrt(var + eps) * vector("weight") + vector("bias")


def relu(x):
    return np.maximum(x, 0.0)


def linear(x, sd, prefix):
    weight = sd[f"{prefix}.weight"].astype("float64")
    return x @ weight.T + sd[f"{prefix}.bias"].astype("float64")


# -- the networks ------------------------------------------------------------


def alexnet_forward(sd, x):
    """torchvision's AlexNet.forward in eval mode; x is NCHW."""
    x = x.astype("float64")
    for index, _, _, _, stride, padding in ALEXNET_CONVS:
        p = f"features.{index}"
        x = relu(conv2d(x, sd[f"{p}.weight"], sd[f"{p}.bias"], stride, padding))
        if index in ALEXNET_POOL_AFTER:
            x = max_pool2d(x, 3, 2)
    x = adaptive_avg_pool2d(x, 6)
    x = x.reshape(x.shape[0], 256 * 6 * 6)  # torch's view: (c, h, w) order
    x = relu(linear(x, sd, "classifier.1"))
    x = relu(linear(x, sd, "classifier.4"))
    return linear(x, sd, "classifier.6")


def resnet_forward(sd, x, depth):
    """torchvision's ResNet.forward in eval mode; x is NCHW."""
    block, stages = RESNETS[depth]
    x = x.astype("float64")
    x = relu(
        batch_norm_eval(conv2d(x, sd["conv1.weight"], None, 2, 3), sd, "bn1")
    )
    x = max_pool2d(x, 3, 2, 1)
    for stage, blocks in enumerate(stages):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            x = _block(sd, x, f"layer{stage + 1}.{index}", block, stride)
    x = x.mean(axis=(2, 3))  # AdaptiveAvgPool2d((1, 1)) and flatten
    return linear(x, sd, "fc")


def _block(sd, x, p, block, stride):
    def conv_bn(y, i, stride, padding):
        y = conv2d(y, sd[f"{p}.conv{i}.weight"], None, stride, padding)
        return batch_norm_eval(y, sd, f"{p}.bn{i}")

    if block == "basic":
        out = conv_bn(relu(conv_bn(x, 1, stride, 1)), 2, 1, 1)
    else:  # v1.5: the stride is on the 3x3 conv
        out = relu(conv_bn(x, 1, 1, 0))
        out = relu(conv_bn(out, 2, stride, 1))
        out = conv_bn(out, 3, 1, 0)
    identity = x
    if f"{p}.downsample.0.weight" in sd:
        identity = conv2d(x, sd[f"{p}.downsample.0.weight"], None, stride, 0)
        identity = batch_norm_eval(identity, sd, f"{p}.downsample.1")
    return relu(out + identity)
