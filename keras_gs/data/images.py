"""Image decoding, resizing and normalization as tf.data-ready functions."""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_gs.utils.choices import check_choice


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Name -> (mean, std) applied to pixels already scaled to [0, 1]; None for
# "none", which leaves `uint8` pixels as they are.
NORMALIZATIONS = {
    # torchvision's ImageNet statistics, as in the paper's AlexNet pipeline.
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    # Pixels in [0, 1].
    "unit": (0.0, 1.0),
    # Pixels in [-1, 1] (Inception-style).
    "symmetric": (0.5, 0.5),
    # uint8 pixels in 0..255, for models that normalize inside (keras-hub
    # backbones with their preprocessor, a `Rescaling` layer). A quarter of
    # the bytes of float32 to shuffle, batch and stack: on a 2-core CPU
    # about 1 ms less per 224x224 image.
    "none": None,
}

# Extensions the folder reader picks up (lower case). TF decodes JPEG, PNG,
# GIF and most BMPs itself; see `tf_can_decode` for the ones PIL handles.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def tf_can_decode(image_format: str | None, mode: str | None) -> bool:
    """Whether `tf.io.decode_image` decodes this file to the right RGB.

    Checked against PIL's `convert("RGB")` on files PIL wrote: TF decodes
    JPEG (RGB, grayscale and CMYK), PNG (any mode, 16-bit scaled to 8) and
    GIF (first frame) correctly. It reads palette BMPs as raw indices and
    rejects 1-bit BMPs, and it knows no other format, so those go through
    PIL. An unchecked file (`image_format=None`) is assumed decodable.

    Args:
        image_format: str or None, PIL's `Image.format` (e.g. `"BMP"`).
        mode: str or None, PIL's `Image.mode` (e.g. `"P"`).

    Returns:
        True if TF's native decoder can be used.
    """
    if image_format is None:
        return True
    if image_format in ("JPEG", "PNG", "GIF"):
        return True
    # PIL says "L" for an 8-bit BMP only when its palette is the gray ramp,
    # which is what TF assumes.
    return image_format == "BMP" and mode in ("RGB", "RGBA", "L")


def pil_decode_rgb(path) -> np.ndarray:
    """Decodes any PIL-readable image to an RGB uint8 array of (H, W, 3)."""
    if isinstance(path, np.ndarray):  # What tf.numpy_function passes.
        path = path.item()
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_image(
    path: tf.Tensor, use_pil: tf.Tensor, min_side: int | None = None
) -> tf.Tensor:
    """Reads and decodes one image file to `uint8` RGB of shape (H, W, 3).

    Grayscale, RGBA (alpha dropped), palette and CMYK images all come out
    as RGB; animated GIFs give their first frame.

    Args:
        path: scalar string tensor, the file.
        use_pil: scalar bool tensor, decode with PIL (slow, holds the GIL)
            instead of TF; see `tf_can_decode`.
        min_side: int or None, see `decode_bytes`. Defaults to `None`.

    Returns:
        A `uint8` tensor of shape (H, W, 3).
    """

    def with_tf():
        return decode_bytes(tf.io.read_file(path), min_side)

    def with_pil():
        image = tf.numpy_function(pil_decode_rgb, [path], tf.uint8)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.cond(use_pil, with_pil, with_tf)


def decode_bytes(data: tf.Tensor, min_side: int | None = None) -> tf.Tensor:
    """Decodes encoded image bytes (JPEG, PNG, GIF, BMP) to `uint8` RGB.

    With `min_side`, a large JPEG is shrunk by 2, 4 or 8 while it is
    decoded (libjpeg's DCT scaling, as PIL's `Image.draft`), which costs a
    fraction of a full decode: only as far as its short side stays at
    least `2 * min_side`, so the antialiased resize that follows still does
    the filtering (a 4000x3000 photo for 227x227 is decoded at 1000x750).
    Images smaller than `4 * min_side` are decoded at full size.

    Args:
        data: scalar string tensor, the encoded image.
        min_side: int or None, the side the image will be resized to next;
            `None` always decodes at full size. Defaults to `None`.

    Returns:
        A `uint8` tensor of shape (H, W, 3).
    """

    def full():
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return tf.ensure_shape(image, [None, None, 3])

    if min_side is None:
        return full()

    def scaled(ratio):
        return lambda: tf.ensure_shape(
            tf.io.decode_jpeg(data, channels=3, ratio=ratio), [None, None, 3]
        )

    def jpeg():
        shape = tf.io.extract_jpeg_shape(data)  # Reads the header only.
        short = tf.minimum(shape[0], shape[1])
        return tf.case(
            [
                (short >= 2 * ratio * min_side, scaled(ratio))
                for ratio in (8, 4, 2)
            ],
            default=full,
            exclusive=False,
        )

    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")
    return tf.cond(is_jpeg, jpeg, full)


def resize(
    image: tf.Tensor, sizes: Sequence[int], resize_filter: str = "bilinear"
) -> tf.Tensor:
    """Resizes to each square size in turn, rounding to `uint8` each time.

    The paper's code resized every image to 227x227 with PIL (bilinear,
    which averages over the source pixels when shrinking), saved it, and
    resized that to 224x224 when loading: `sizes=(227, 224)` reproduces
    this, including the rounding to 8 bits in between. The aspect ratio is
    not kept, as in the paper.

    `resize_filter="bilinear"` shrinks with TF's antialiased bilinear
    filter, which gives PIL's pixels to within one gray level. It costs
    about three times a plain bilinear resize, so it is used only where it
    matters: when a side shrinks below `_ANTIALIAS_BELOW` of its length.
    Nearer to 1, as for 227 -> 224, plain bilinear differs from PIL by 0.1
    gray level on average on smooth images (0.8 on pixel noise, the worst
    case) and saves about 1 ms per image.

    `resize_filter="area"` shrinks by averaging the source pixels each
    output pixel covers (a box filter, about half the cost of the
    antialiased bilinear one, about 1 gray level from PIL on average) when
    both sides shrink; otherwise it resizes as `"bilinear"`.

    An image already of the target size is passed through.

    Args:
        image: `uint8` tensor of shape (H, W, C).
        sizes: sequence of int, the side of each successive square resize;
            empty to leave the image as it is.
        resize_filter: str, one of `RESIZE_FILTERS`. Defaults to
            `"bilinear"`.

    Returns:
        A `uint8` tensor of shape (sizes[-1], sizes[-1], C).
    """
    check_resize_filter(resize_filter)
    for size in sizes:
        image = _resize_square(image, size, resize_filter == "area")
    return image


RESIZE_FILTERS = ("bilinear", "area")

# Shrinking a side below this fraction of its length uses the antialiased
# (PIL-exact) filter; see `resize`.
_ANTIALIAS_BELOW = 1 / 1.1


def check_resize_filter(name: str) -> str:
    """Raises a ValueError naming the valid choices if `name` is unknown."""
    return check_choice(name, RESIZE_FILTERS, "resize_filter", "resize filter")


def _resize_square(image, size, area):
    def resized(**kwargs):
        out = tf.image.resize(image, (size, size), **kwargs)
        return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)

    height, width = image.shape[0], image.shape[1]
    if height is not None and width is not None:  # Decide while tracing.
        if (height, width) == (size, size):
            return image
        if area and min(height, width) * _ANTIALIAS_BELOW > size:
            return resized(method="area")
        return resized(antialias=max(height, width) * _ANTIALIAS_BELOW > size)
    shape = tf.shape(image)[:2]
    sides = tf.cast(shape, tf.float32) * _ANTIALIAS_BELOW
    # The first true condition wins.
    branches = [(tf.reduce_all(tf.equal(shape, size)), lambda: image)]
    if area:
        branches.append(
            (tf.reduce_all(sides > size), lambda: resized(method="area"))
        )
    branches.append(
        (tf.reduce_any(sides > size), lambda: resized(antialias=True))
    )
    out = tf.case(branches, default=resized, exclusive=False)
    # Set the static shape after the case, not inside a branch: in a
    # tf.function, TF 2.21 runs an untaken branch's `ensure_shape` and
    # fails on the other branches' shapes.
    return tf.ensure_shape(out, (size, size, image.shape[-1]))


def check_normalization(name: str) -> str:
    """Raises a ValueError naming the valid choices if `name` is unknown."""
    return check_choice(name, NORMALIZATIONS, "normalization", "normalization")


def to_unit_float(image: tf.Tensor) -> tf.Tensor:
    """`uint8` 0..255 -> `float32` [0, 1]; float images are assumed there."""
    if image.dtype == tf.uint8:
        return tf.cast(image, tf.float32) / 255.0
    return tf.cast(image, tf.float32)


def normalize(image: tf.Tensor, name: str) -> tf.Tensor:
    """Scales pixels to [0, 1] then applies `(x - mean) / std`.

    Args:
        image: `uint8` tensor (0..255) or float tensor already in [0, 1].
        name: str, a key of `NORMALIZATIONS`: `"imagenet"` (ImageNet
            mean/std, per RGB channel), `"unit"` ([0, 1]), `"symmetric"`
            ([-1, 1]) or `"none"` (`uint8` 0..255 as they are).

    Returns:
        A `float32` tensor of the same shape (`uint8` for `"none"`).
    """
    if NORMALIZATIONS[check_normalization(name)] is None:
        if image.dtype == tf.uint8:
            return image
        return tf.cast(tf.round(tf.clip_by_value(image, 0, 1) * 255), tf.uint8)
    mean, std = NORMALIZATIONS[name]
    channels = image.shape[-1]
    if isinstance(mean, tuple) and channels != len(mean):
        raise ValueError(
            f"normalization={name!r} has per-channel statistics for "
            f"{len(mean)} channels, but the images have {channels}. Use "
            "'unit' or 'symmetric', or images with 3 channels."
        )
    # One multiply-add: x / 255 then (x - mean) / std, folded into
    # constants (this runs on every pixel of every image).
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    pixel_max = 255.0 if image.dtype == tf.uint8 else 1.0
    scale = tf.constant(1.0 / (pixel_max * std), tf.float32)
    offset = tf.constant(-mean / std, tf.float32)
    return tf.cast(image, tf.float32) * scale + offset
