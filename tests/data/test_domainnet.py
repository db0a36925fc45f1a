"""DomainNet through TFDS's `domainnet` builder, on `tfds.testing.mock_data`."""

import io

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from keras_gs.data import domainnet
from keras_gs.data.load import load

# Every mocked domain holds 10 examples of class 3 and 5 of class 200; an
# image's pixels all equal its label, so labels can be checked on pixels.
_LABELS = [3] * 10 + [200] * 5


def _png(value):
    buffer = io.BytesIO()
    Image.new("RGB", (5, 4), (value, value, value)).save(buffer, "PNG")
    return buffer.getvalue()


def _as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    # keras_gs always reads DomainNet with the image left encoded
    # (SkipDecoding), so the mock yields encoded images.
    assert split == "train+test", split
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": [_png(y) for y in _LABELS],
            "label": np.array(_LABELS, np.int64),
        }
    )


def test_domainnet_source_reads_all_domains():
    with tfds.testing.mock_data(as_dataset_fn=_as_dataset):
        source = domainnet.domainnet_source()
    assert source.domains == [
        "clipart", "infograph", "painting", "quickdraw", "real", "sketch",
    ]
    assert len(source.class_names) == 345
    assert source.class_names[3] == "ambulance"
    assert source.labels["real"] == _LABELS


def test_load_domainnet_splits_and_pixels():
    with tfds.testing.mock_data(as_dataset_fn=_as_dataset):
        splits = load(
            "domainnet",
            test_domains="sketch",
            image_size=8,
            normalization="unit",
        )
        # Per domain: class 3 (10) -> 7 / 1 / 2, class 200 (5) -> 3 / 1 / 1.
        assert splits.sizes["train"] == {
            d: 10 for d in domainnet.DOMAINS if d != "sketch"
        }
        assert sum(splits.sizes["val"].values()) == 5 * 2
        assert splits.sizes["test"] == {"sketch": 3}
        test = list(splits.test.as_numpy_iterator())
    assert sorted(int(y) for _, y in test) == [3, 3, 200]
    for image, label in test:
        assert image.shape == (8, 8, 3)
        np.testing.assert_allclose(image, label / 255.0, atol=1e-6)
