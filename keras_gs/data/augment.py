"""Training-time augmentation presets built from Keras preprocessing layers."""

import keras

from keras_gs.utils.choices import check_choice


AUGMENTATIONS = ("none", "domainbed")


def make_augmentation(name: str, seed: int | None = None):
    """Returns a per-image augmentation layer, or None for `"none"`.

    `"none"` is the paper's setting (no augmentation).

    `"domainbed"` imitates DomainBed's training transform for image
    datasets (`RandomResizedCrop(224, scale=(0.7, 1))`, horizontal flip,
    `ColorJitter(0.3, 0.3, 0.3, 0.3)`, `RandomGrayscale(0.1)`) with the
    layers Keras 3 has:

    - random resized crop: `RandomZoom` zooming in by up to 16.3 % on each
      side independently, i.e. a crop of 70-100 % of the area with aspect
      ratios within about 0.84-1.19 (torchvision: 3/4-4/3), resized back to
      the input size;
    - `RandomFlip("horizontal")`;
    - `RandomColorJitter`: contrast x U(0.7, 1.3) and hue +-U(0, 0.3) of
      the hue circle as in torchvision; saturation x U(0.7, 1.3) (Keras's
      factor s scales by s / (1 - s), so s in [0.412, 0.565]); brightness
      is additive in Keras, +-30 % of the value range (torchvision
      multiplies by U(0.7, 1.3));
    - `RandomGrayscale(factor=0.1)`.

    The layer takes `float32` images with values in [0, 1] and returns
    them in [0, 1]; apply it before normalization, to training data only.
    Color jitter and grayscale need 3 channels.

    Args:
        name: str, one of `"none"`, `"domainbed"`.
        seed: int or None, base seed of the random layers (layer i uses
            `seed + i`). Defaults to `None`.

    Returns:
        A `keras.layers.Pipeline`, or None.
    """
    check_choice(name, AUGMENTATIONS, "augmentation", "augmentation")
    if name == "none":
        return None

    def layer_seed(i):
        return None if seed is None else seed + i

    # sqrt(0.7) = 0.837: zooming in by up to 1 - 0.837 on each side keeps
    # at least 70 % of the area, DomainBed's lower crop scale.
    zoom = -(1.0 - 0.7**0.5)
    return keras.layers.Pipeline(
        [
            keras.layers.RandomZoom(
                height_factor=(zoom, 0.0),
                width_factor=(zoom, 0.0),
                fill_mode="reflect",
                seed=layer_seed(0),
            ),
            keras.layers.RandomFlip("horizontal", seed=layer_seed(1)),
            keras.layers.RandomColorJitter(
                value_range=(0, 1),
                brightness_factor=0.3,
                contrast_factor=0.3,
                saturation_factor=(0.7 / 1.7, 1.3 / 2.3),
                hue_factor=(0.0, 0.6),
                seed=layer_seed(2),
            ),
            keras.layers.RandomGrayscale(factor=0.1, seed=layer_seed(3)),
        ],
        name="domainbed_augmentation",
    )
