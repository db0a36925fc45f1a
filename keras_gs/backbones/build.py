"""`get`: the one way to build a backbone by name, with its weights."""

from collections.abc import Sequence

import keras

from keras_gs.backbones import catalog
from keras_gs.backbones import weights as weights_lib


def names() -> list[str]:
    """The backbone names that `get` accepts, sorted."""
    return catalog.names()


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
            weights, ported by `keras_gs.backbones.port_torchvision_weights`;
            see `keras_gs.backbones.weights`). The last layer, `logits`, is
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
    backbone = catalog.find(name)
    if int(num_classes) < 1:
        raise ValueError(
            f"Backbone {name!r}: `num_classes` must be >= 1. "
            f"Received: num_classes={num_classes}"
        )
    options = backbone.options()
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(
            f"Backbone {name!r} has no option {', '.join(unknown)}. "
            f"Valid: {', '.join(options) or 'none'}."
        )
    model = backbone.build(input_shape, num_classes, **kwargs)
    if weights is not None:
        weights_lib.load(model, name, weights, cache=cache_dir)
    return model
