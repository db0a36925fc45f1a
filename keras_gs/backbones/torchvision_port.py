"""torchvision state dicts to keras_gs backbones' weights.

`port(arch, input_path, output_path)` reads torchvision's state dict of
`alexnet`, `resnet18` or `resnet50` (a `.pth` file, which needs `torch`,
or a `.npz` of the same arrays under the same keys, which does not),
checks it against the architecture, converts every layout difference and
writes a Keras `.weights.h5` file. `tools/port_torchvision_weights.py` is
its command line.

Layout differences, all handled in `convert`:
- conv kernels: torch `(out, in, kh, kw)`, Keras `(kh, kw, in, out)`;
- dense kernels: torch `(out, in)`, Keras `(in, out)`;
- AlexNet's `fc6` reads features flattened channels first in torch
  `(c, h, w)`, channels last in Keras `(h, w, c)`: its rows are reordered;
- BatchNorm: `weight, bias, running_mean, running_var` are Keras's
  `gamma, beta, moving_mean, moving_variance`; `num_batches_tracked` is
  not used.
"""

import os
import pathlib

import keras
import numpy as np

from keras_gs.backbones import build
from keras_gs.backbones import catalog
from keras_gs.backbones import weights as weights_lib
from keras_gs.utils.choices import check_choice

INPUT_SUFFIXES = (".pth", ".pt", ".npz")
_BATCHNORM_KEYS = ("weight", "bias", "running_mean", "running_var")
_IGNORED_KEYS = ("num_batches_tracked",)


def archs() -> list[str]:
    """The architectures with torchvision ImageNet weights."""
    return catalog.with_imagenet()


def torch_name(arch: str, layer: str) -> str:
    """The torchvision module name of Keras layer `layer` of `arch`."""
    return catalog.find(arch, "arch").torch_name(layer)


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a torchvision state dict from a `.pth`/`.pt` or `.npz` file.

    Args:
        path: str, the file. A `.pth` needs `torch`; a `.npz` holds the
            same arrays under the state dict's keys (e.g.
            `numpy.savez(f, **{k: v.numpy() for k, v in sd.items()})`).

    Returns:
        dict from key to array.

    Raises:
        FileNotFoundError, ValueError, ImportError, each with one line
        naming the file.
    """
    path = pathlib.Path(path).expanduser()
    if path.suffix not in INPUT_SUFFIXES:
        raise ValueError(
            f"Unknown state dict format. Received: input={str(path)!r}. "
            f"Valid: a file ending with {', '.join(INPUT_SUFFIXES)}."
        )
    if not path.is_file():
        raise FileNotFoundError(f"No such file. Received: input={str(path)!r}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except Exception as error:  # zipfile, pickle and format errors
            raise ValueError(
                f"{path}: not a readable .npz archive ({_one_line(error)})."
            ) from None
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"Reading {path} needs torch (an optional dependency): pip "
            "install torch, or convert it to .npz where torch is installed: "
            "python -c \"import numpy, torch; numpy.savez('state.npz', "
            f"**{{k: v.numpy() for k, v in torch.load('{path.name}').items()}})\""
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path}: not a readable torch file ({_one_line(error)})."
        ) from None
    if not isinstance(state, dict):
        raise ValueError(
            f"{path}: holds a {type(state).__name__}, not a state dict."
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{path}: key {key!r} holds a {type(value).__name__}, not a "
                "tensor: not a state dict."
            )
    return {
        key: (value.float() if value.is_floating_point() else value)
        .detach()
        .cpu()
        .numpy()
        for key, value in state.items()
    }


def num_classes_of(
    arch: str, state_dict: dict[str, np.ndarray], source: str
) -> int:
    """The number of classes of a state dict: its last layer's outputs."""
    key = f"{torch_name(arch, weights_lib.LAST_LAYER)}.weight"
    if key not in state_dict:
        raise ValueError(
            f"{source}: missing key {key!r}: not a torchvision {arch} state "
            "dict."
        )
    if np.ndim(state_dict[key]) != 2:
        raise ValueError(
            f"{source}: key {key!r} has shape {np.shape(state_dict[key])}, "
            f"torchvision's {arch} has (num_classes, features)."
        )
    return int(np.shape(state_dict[key])[0])


def convert(
    arch: str,
    state_dict: dict[str, np.ndarray],
    model: keras.Model,
    source: str = "state dict",
) -> dict[str, list[np.ndarray]]:
    """Converts torchvision's state dict of `arch` to `model`'s layers.

    Checks every key: a missing key, an unexpected key or a wrong shape is
    an error naming it.

    Args:
        arch: str, one of `archs()`.
        state_dict: dict from torchvision key to array.
        model: keras.Model, the `arch` backbone to fill (its shapes are
            the reference).
        source: str, the state dict's file, for messages. Defaults to
            `"state dict"`.

    Returns:
        dict from Keras layer name to its variables, as `weights.assign`
        takes them.
    """
    _check_arch(arch)
    layers = {}
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = torch_name(arch, layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            names = _BATCHNORM_KEYS
        elif len(layer.weights) == 2:
            names = ("weight", "bias")
        else:
            names = ("weight",)
        arrays = []
        for key_name, variable in zip(names, layer.weights, strict=True):
            key = f"{prefix}.{key_name}"
            used.add(key)
            if key not in state_dict:
                raise ValueError(
                    f"{source}: missing key {key!r} of torchvision's {arch}."
                )
            arrays.append(
                _to_keras(arch, layer, key, state_dict[key], variable, source)
            )
        layers[layer.name] = arrays
    unexpected = [
        key
        for key in state_dict
        if key not in used and key.rsplit(".", 1)[-1] not in _IGNORED_KEYS
    ]
    if unexpected:
        shown = ", ".join(repr(k) for k in unexpected[:5])
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        raise ValueError(
            f"{source}: unexpected key(s) {shown}{more}: not torchvision's "
            f"{arch}."
        )
    return layers


def port(
    arch: str,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
) -> pathlib.Path:
    """Ports a torchvision state dict to a Keras `.weights.h5` file.

    Args:
        arch: str, one of `archs()`.
        input_path: str, torchvision's `.pth` state dict or its `.npz`.
        output_path: str or None, the `.weights.h5` to write. Defaults to
            `None`: the file that `weights="imagenet"` reads,
            `weights.imagenet_path(arch, cache)`.
        cache: str or None, the cache directory when `output_path` is None;
            see `weights.cache_dir`. Defaults to `None`.

    Returns:
        The path written.

    Example:

    ```python
    port("resnet18", "resnet18-f37072fd.pth")
    model = keras_gs.backbones.get("resnet18", (224, 224, 3), 7,
                                   weights="imagenet")
    ```
    """
    _check_arch(arch)
    if output_path is None:
        output_path = weights_lib.imagenet_path(arch, cache)
    elif not str(output_path).endswith(weights_lib.SUFFIX):
        raise ValueError(
            f"The output must end with {weights_lib.SUFFIX!r}. "
            f"Received: output={str(output_path)!r}"
        )
    state_dict = read_state_dict(input_path)
    source = str(input_path)
    num_classes = num_classes_of(arch, state_dict, source)
    model = build.get(arch, (224, 224, 3), num_classes)
    skipped = weights_lib.assign(
        model, convert(arch, state_dict, model, source), source
    )
    assert not skipped, skipped  # the model was built with the file's shapes
    return weights_lib.save(model, output_path)


def _one_line(error):
    return " ".join(str(error).split())


def _check_arch(arch):
    check_choice(arch, archs(), "arch", "architecture")


def _to_keras(arch, layer, key, value, variable, source):
    value = np.asarray(value, dtype="float32")
    keras_shape = tuple(variable.shape)
    if len(keras_shape) == 4:  # conv kernel (kh, kw, in, out)
        torch_shape = tuple(keras_shape[i] for i in (3, 2, 0, 1))
    elif len(keras_shape) == 2:  # dense kernel (in, out)
        torch_shape = keras_shape[::-1]
    else:
        torch_shape = keras_shape
    if value.shape != torch_shape:
        raise ValueError(
            f"{source}: key {key!r} has shape {value.shape}, torchvision's "
            f"{arch} has {torch_shape}."
        )
    if len(keras_shape) == 4:
        return value.transpose(2, 3, 1, 0)
    if len(keras_shape) == 2:
        flattened = catalog.find(arch).flattened.get(layer.name)
        if flattened is not None:
            # torch's input index is (c, h, w); Keras's Flatten gives (h, w, c).
            units = value.shape[0]
            value = value.reshape(units, *flattened).transpose(0, 2, 3, 1)
            value = value.reshape(units, -1)
        return value.T
    return value
