"""Loading a backbone's weights: a `.weights.h5` file or `"imagenet"`.

`"imagenet"` means torchvision's ImageNet weights, ported once with
`tools/port_torchvision_weights.py` into the cache directory:
`$KERAS_GS_CACHE` when set, `~/.keras/keras_gs/` otherwise, holding
`<name>_imagenet.weights.h5`.

Weights are loaded layer by layer, by layer name, from Keras's own
`.weights.h5` format (what `model.save_weights` writes, so
`model.load_weights` reads these files too when the architecture and
`num_classes` match exactly). Every layer of the model must be in the file
with the same shapes, except the last one, `logits`: when its number of
classes differs from the file's, it keeps its fresh initialization and one
line says so.
"""

import logging
import os
import pathlib

import h5py
import keras
import numpy as np

from keras_gs.backbones import catalog
from keras_gs.utils import atomic_files
from keras_gs.utils.choices import check_choice

CACHE_ENV = "KERAS_GS_CACHE"
DEFAULT_CACHE = "~/.keras/keras_gs"
SUFFIX = ".weights.h5"
LAST_LAYER = "logits"

_log = logging.getLogger(__name__)


def cache_dir(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The directory of the ported ImageNet weights.

    Args:
        path: str or None, the directory to use. Defaults to `None`:
            `$KERAS_GS_CACHE` when set, else `~/.keras/keras_gs`.
    """
    if path is None:
        path = os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return pathlib.Path(path).expanduser()


def imagenet_path(
    name: str, cache: str | os.PathLike | None = None
) -> pathlib.Path:
    """Where `weights="imagenet"` looks for backbone `name`'s weights.

    Args:
        name: str, a backbone with ImageNet weights
            (`catalog.with_imagenet()`).
        cache: str or None, the cache directory; see `cache_dir`. Defaults
            to `None`.

    Example:

    ```python
    imagenet_path("resnet18")  # ~/.keras/keras_gs/resnet18_imagenet.weights.h5
    ```
    """
    check_choice(
        name, catalog.with_imagenet(), "name", "backbone with ImageNet weights"
    )
    return cache_dir(cache) / f"{name}_imagenet{SUFFIX}"


def port_command(name: str, output: str | os.PathLike | None = None) -> str:
    """The command that writes `name`'s ImageNet weights (one line)."""
    url = catalog.find(name).imagenet.url
    command = (
        f"python tools/port_torchvision_weights.py --arch {name} "
        f"--input {url.rsplit('/', 1)[-1]}"
    )
    if output is not None:
        command += f" --output {output}"
    return command


def load(
    model: keras.Model,
    name: str,
    weights: str | os.PathLike,
    cache: str | os.PathLike | None = None,
) -> None:
    """Loads `weights` into backbone `model`, layer by layer.

    Args:
        model: keras.Model, a backbone built by `keras_gs.backbones.get`.
        name: str, its backbone name (for `"imagenet"` and messages).
        weights: `"imagenet"` or the path of a `.weights.h5` file.
        cache: str or None, the cache directory for `"imagenet"`; see
            `cache_dir`. Defaults to `None`.

    Raises:
        FileNotFoundError: the file does not exist; for `"imagenet"`, the
            message is the one command that creates it.
        ValueError: a bad `weights` value, or a file that does not fit the
            model (a missing layer, a shape other than the last layer's).

    Example:

    ```python
    model = keras_gs.backbones.get("resnet18", (224, 224, 3), 7)
    load(model, "resnet18", "imagenet")
    ```
    """
    path = locate(name, weights, cache)
    skipped = assign(model, read(path), source=str(path))
    for layer, (model_shape, file_shape) in skipped.items():
        _log.warning(
            "%s: %d classes, %s has %d: layer %r freshly initialized, every "
            "other layer loaded.",
            name,
            model_shape[-1],
            path,
            file_shape[-1],
            layer,
        )


def locate(
    name: str, weights, cache: str | os.PathLike | None = None
) -> pathlib.Path:
    """The file `load` would read for `weights` of backbone `name`.

    For checking before anything slow (preparing a dataset) that the
    weights are there; raises as `load` does.
    """
    if isinstance(weights, str) and weights == "imagenet":
        path = imagenet_path(name, cache)
        source = catalog.find(name).imagenet
        if not path.is_file():
            output = None if cache is None else path
            raise FileNotFoundError(
                f"No ImageNet weights for {name!r} at {path}. Download "
                f"torchvision's {source.enum} from {source.url} and port "
                "them with: "
                f"{port_command(name, output)}"
            )
    elif isinstance(weights, (str, os.PathLike)) and str(weights).endswith(
        SUFFIX
    ):
        path = pathlib.Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{name}: no such weights file. "
                f"Received: weights={str(weights)!r}"
            )
    else:
        raise ValueError(
            f"{name}: `weights` must be None, 'imagenet' or the path of a "
            f"Keras '{SUFFIX}' file. Received: weights={weights!r}"
        )
    return path


def read(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """The variables of each layer in a Keras `.weights.h5` file, by name.

    Keras keys its groups by position (`layers/conv2d_3/vars`) and records
    each layer's name in the `name` attribute of its `vars` group; the
    names are what this reads. A model nested in another (e.g. the network
    of a saved `GradSurgeryModel`) is found too.

    Args:
        path: str, the file.

    Returns:
        dict from layer name to its variables, in the layer's order.
    """
    layers = {}
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"{path}: not a readable HDF5 file ({error})."
        ) from None
    with f:

        def visit(key, group):
            if not (isinstance(group, h5py.Group) and key.endswith("vars")):
                return
            if key != "vars" and not key.endswith("/vars"):
                return
            layer = group.attrs.get("name")
            if layer is None or len(group) == 0:
                return
            if isinstance(layer, bytes):
                layer = layer.decode()
            arrays = [np.asarray(group[str(i)]) for i in range(len(group))]
            # A duplicate name is ambiguous: keep neither.
            layers[layer] = None if layer in layers else arrays

        f.visititems(visit)
    return layers


def assign(
    model: keras.Model,
    layers: dict[str, list[np.ndarray] | None],
    source: str,
) -> dict[str, tuple[tuple, tuple]]:
    """Sets each weighted layer of `model` from `layers`, by name.

    The last layer (`logits`) is left as it is when its kernel's shape
    differs (another `num_classes`); any other difference is an error.
    Entries of `layers` that the model lacks are ignored.

    Args:
        model: keras.Model, a flat model (layers with their own variables).
        layers: dict from layer name to its variables, from `read`.
        source: str, the file's name, for messages.

    Returns:
        The skipped layers: name -> (model's kernel shape, file's).
    """
    skipped = {}
    updates = []
    for layer in model.layers:
        variables = layer.weights
        if not variables:
            continue
        arrays = layers.get(layer.name)
        if arrays is None:
            what = "twice" if layer.name in layers else "not"
            raise ValueError(
                f"{source}: layer {layer.name!r} of {model.name!r} is {what} "
                "in the file: it holds weights for another model."
            )
        shapes = [tuple(v.shape) for v in variables]
        file_shapes = [tuple(a.shape) for a in arrays]
        if shapes != file_shapes:
            if layer.name == LAST_LAYER and len(shapes) == len(file_shapes):
                skipped[layer.name] = (shapes[0], file_shapes[0])
                continue
            raise ValueError(
                f"{source}: layer {layer.name!r} has variables of shapes "
                f"{file_shapes} in the file, {shapes} in {model.name!r}."
            )
        updates.append((layer, arrays))
    for layer, arrays in updates:
        layer.set_weights(arrays)
    return skipped


def save(model: keras.Model, path: str | os.PathLike) -> pathlib.Path:
    """Writes `model.save_weights(path)` atomically.

    The weights go to a temporary file in the same directory, which then
    replaces `path`: an interrupted save leaves no partial file.

    Args:
        model: keras.Model, the model to save.
        path: str, the output; must end with `.weights.h5`.

    Returns:
        The path written, as a `pathlib.Path`.
    """
    path = pathlib.Path(path).expanduser()
    if not path.name.endswith(SUFFIX):
        raise ValueError(
            f"A weights file's name must end with {SUFFIX!r}. "
            f"Received: path={str(path)!r}"
        )
    with atomic_files.atomic_path(path) as temporary:
        model.save_weights(temporary)
    return path
