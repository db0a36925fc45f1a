"""The registry of backbone names and `get`, the one way to build one."""

import inspect
from collections.abc import Callable
from collections.abc import Sequence

import keras

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def register(name: str):
    """Function decorator: registers a builder under the name users type.

    A builder is called as `builder(input_shape, num_classes, **kwargs)` and
    returns an unloaded `keras.Model` from images to logits; `get` loads
    the weights.
    """

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"Backbone name {name!r} is already registered.")
        _BUILDERS[name] = builder
        return builder

    return decorator


def names() -> list[str]:
    """The backbone names that `get` accepts, sorted."""
    _import_builders()
    return sorted(_BUILDERS)


def get(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None = None,
    cache_dir: str | None = None,
    **kwargs,
) -> keras.Model:
    """Builds the backbone `name`: images of `input_shape` to logits.

    Args:
        name: str, one of `names()`.
        input_shape: tuple of int, `(height, width, channels)` of one image.
        num_classes: int, the number of outputs (logits).
        weights: None (random initialization), a path to a Keras
            `.weights.h5` file, or `"imagenet"` (torchvision's ImageNet
            weights, ported by `tools/port_torchvision_weights.py`; see
            `keras_gs.backbones.weights`). The last layer, `logits`, is
            loaded only when `num_classes` matches the file's. Defaults to
            `None`.
        cache_dir: str or None, where `weights="imagenet"` looks. Defaults
            to `None`: `$KERAS_GS_CACHE` when set, else
            `~/.keras/keras_gs`.
        **kwargs: options of that backbone's builder.

    Returns:
        A `keras.Model` named `name`.

    Example:

    ```python
    model = keras_gs.backbones.get("small_cnn", (28, 28, 1), num_classes=10)
    # The paper's backbone, fine-tuned from ImageNet on 7 classes:
    model = keras_gs.backbones.get(
        "alexnet", (224, 224, 3), num_classes=7, weights="imagenet"
    )
    ```
    """
    _import_builders()
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown backbone. Received: name={name!r}. "
            f"Valid: {', '.join(sorted(_BUILDERS))}."
        )
    if int(num_classes) < 1:
        raise ValueError(
            f"Backbone {name!r}: `num_classes` must be >= 1. "
            f"Received: num_classes={num_classes}"
        )
    builder = _BUILDERS[name]
    options = list(inspect.signature(builder).parameters)[2:]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(
            f"Backbone {name!r} has no option {', '.join(unknown)}. "
            f"Valid: {', '.join(options) or 'none'}."
        )
    model = builder(tuple(input_shape), int(num_classes), **kwargs)
    if weights is not None:
        from keras_gs.backbones import weights as weights_lib

        weights_lib.load(model, name, weights, cache=cache_dir)
    return model


def _import_builders():
    # Importing a builder module registers its names.
    from keras_gs.backbones import alexnet  # noqa: F401
    from keras_gs.backbones import resnet  # noqa: F401
    from keras_gs.backbones import small_cnn  # noqa: F401
