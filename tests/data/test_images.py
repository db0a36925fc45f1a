"""Tests for decoding, resizing, normalization and augmentation."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_gs.data import augment
from keras_gs.data import image_check
from keras_gs.data import images

# image_files.py lies beside this file (pytest puts tests/data on the path).
from image_files import write_image

# Every kind, decoded, must be the solid color PIL's convert("RGB") gives;
# JPEG is lossy, so it gets a tolerance.
KINDS = [
    "jpeg",
    "jpeg_gray",
    "jpeg_cmyk",
    "png",
    "png_rgba",
    "png_gray",
    "png_palette",
    "bmp",
    "bmp_palette",
    "bmp_1bit",
    "gif",
]


@pytest.mark.parametrize("kind", KINDS)
def test_decode_every_kind_to_rgb(tmp_path, kind):
    color = (200, 40, 90)
    path = write_image(str(tmp_path / f"x.{kind}"), kind, color, (7, 5))
    checked = image_check.check_images([path])
    assert checked.bad == {}
    use_pil = not images.tf_can_decode(*checked.formats[path])
    decoded = images.decode_image(tf.constant(path), tf.constant(use_pil))
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert decoded.dtype == tf.uint8
    assert decoded.shape == (5, 7, 3)
    tolerance = 4 if kind.startswith("jpeg") else 0
    assert np.abs(decoded.numpy().astype(int) - expected).max() <= tolerance


def test_tf_can_decode_routes_palette_bmp_to_pil():
    assert images.tf_can_decode("JPEG", "CMYK")
    assert images.tf_can_decode("PNG", "P")
    assert images.tf_can_decode("BMP", "RGB")
    assert not images.tf_can_decode("BMP", "P")
    assert not images.tf_can_decode("BMP", "1")
    assert not images.tf_can_decode("WEBP", "RGB")


def test_resize_steps_and_rounding():
    # A solid image stays solid through both resizes: every pixel 77.
    solid = tf.fill((40, 30, 3), tf.constant(77, tf.uint8))
    out = images.resize(solid, (227, 224))
    assert out.shape == (224, 224, 3) and out.dtype == tf.uint8
    assert np.all(out.numpy() == 77)
    # Columns 0, 0, 100 repeated, shrunk 3x: an output pixel centred on
    # input column 3i+1 averages its neighbours with triangle weights
    # 1/3, 2/3, 1, 2/3, 1/3 over columns 3i-1 .. 3i+3 (100, 0, 0, 100, 0):
    # (100/3 + 200/3) / 3 = 33.3 -> 33, as PIL's bilinear shrink gives. A
    # plain bilinear sample would read column 3i+1 alone: 0.
    row = np.array([0, 0, 100] * 4, np.uint8)
    stripes = np.repeat(np.repeat(row[None, :, None], 12, 0), 3, 2)
    out = images.resize(tf.constant(stripes), (4,)).numpy()
    assert np.all(out[:, 1:3] == 33)
    pil = Image.fromarray(stripes).resize((4, 4), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(out, np.asarray(pil))


def test_area_filter():
    # Box average: every output pixel covers exactly 3 columns (0, 0, 100),
    # edges included: 33.3 -> 33 everywhere.
    row = np.array([0, 0, 100] * 4, np.uint8)
    stripes = np.repeat(np.repeat(row[None, :, None], 12, 0), 3, 2)
    out = images.resize(tf.constant(stripes), (4,), "area").numpy()
    assert np.all(out == 33)
    # Shape unknown while tracing, one side growing (6 -> 10): area would
    # repeat pixels there, so it falls back to the bilinear filter.
    rng = np.random.default_rng(0)
    tall = tf.constant(rng.integers(0, 256, (30, 6, 3)), tf.uint8)
    traced = tf.function(
        lambda x: images.resize(x, (10,), "area"),
        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)],
    )
    np.testing.assert_array_equal(
        traced(tall), images.resize(tall, (10,), "bilinear")
    )
    assert not np.array_equal(
        traced(tall), tf.image.resize(tall, (10, 10), method="area")
    )
    with pytest.raises(ValueError, match=r"resize_filter='lanczos'"):
        images.resize(tall, (10,), "lanczos")


def test_normalizations_by_hand():
    pixel = tf.constant([[[255, 0, 51]]], tf.uint8)
    imagenet = images.normalize(pixel, "imagenet").numpy()[0, 0]
    np.testing.assert_allclose(
        imagenet,
        [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        images.normalize(pixel, "unit").numpy()[0, 0], [1.0, 0.0, 0.2]
    )
    np.testing.assert_allclose(
        images.normalize(pixel, "symmetric").numpy()[0, 0],
        [1.0, -1.0, -0.6],
        rtol=1e-5,
    )


def test_no_normalization_keeps_uint8():
    pixel = tf.constant([[[255, 0, 51]]], tf.uint8)
    assert images.normalize(pixel, "none") is pixel
    # Float input (augmented, or rotated digits) in [0, 1] back to 0..255.
    floats = tf.constant([[[1.0, 0.0, 0.2]]])
    out = images.normalize(floats, "none")
    assert out.dtype == tf.uint8
    np.testing.assert_array_equal(out.numpy()[0, 0], [255, 0, 51])


def test_normalization_errors():
    with pytest.raises(ValueError, match=r"normalization='vgg'.*imagenet"):
        images.normalize(tf.zeros((2, 2, 3)), "vgg")
    with pytest.raises(ValueError, match="3 channels, but the images have 1"):
        images.normalize(tf.zeros((2, 2, 1)), "imagenet")


def test_augmentation_presets():
    assert augment.make_augmentation("none") is None
    with pytest.raises(ValueError, match=r"augmentation='randaugment'"):
        augment.make_augmentation("randaugment")
    layer = augment.make_augmentation("domainbed", seed=1)
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensors(image).map(layer)
    first = next(iter(dataset)).numpy()
    again = next(iter(dataset)).numpy()
    assert first.shape == (16, 16, 3)
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert np.abs(first - image).mean() > 0.01  # It changed the image...
    assert np.abs(first - again).mean() > 0.01  # ...differently each time.


def test_large_jpeg_decoded_at_reduced_size(tmp_path):
    # A 1000x800 photo resized next to 100: its short side 800 >= 2 * 4 *
    # 100, not >= 2 * 8 * 100, so it is decoded at 1/4: 250x200.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:800, 0:1000]
    photo = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1)
    photo = (photo + rng.normal(0, 8, photo.shape)).clip(0, 255)
    path = str(tmp_path / "big.jpg")
    Image.fromarray(photo.astype(np.uint8)).save(path, "JPEG", quality=95)
    data = tf.io.read_file(path)
    assert images.decode_bytes(data, min_side=100).shape == (200, 250, 3)
    assert images.decode_bytes(data, min_side=126).shape == (400, 500, 3)
    assert images.decode_bytes(data).shape == (800, 1000, 3)
    # After the resize it matches PIL's full-size bilinear resize closely.
    fast = images.resize(images.decode_bytes(data, min_side=100), (100,))
    pil = Image.open(path).convert("RGB").resize(
        (100, 100), Image.Resampling.BILINEAR
    )
    difference = np.abs(fast.numpy().astype(int) - np.asarray(pil))
    assert difference.mean() < 2.0


def test_png_ignores_min_side(tmp_path):
    path = write_image(str(tmp_path / "big.png"), "png", (9, 9, 9), (900, 900))
    image = images.decode_bytes(tf.io.read_file(path), min_side=50)
    assert image.shape == (900, 900, 3)
