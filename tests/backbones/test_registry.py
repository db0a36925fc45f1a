import numpy as np
import pytest

from keras_gs import backbones


def test_names_lists_small_cnn():
    assert "small_cnn" in backbones.names()


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"name='nope'.*Valid: .*small_cnn"):
        backbones.get("nope", (28, 28, 1), 10)


def test_bad_num_classes_is_refused():
    with pytest.raises(ValueError, match="num_classes=0"):
        backbones.get("small_cnn", (28, 28, 1), 0)


def test_small_cnn_maps_images_to_logits():
    model = backbones.get("small_cnn", (28, 28, 1), num_classes=7)
    out = model(np.zeros((5, 28, 28, 1), "float32"))
    assert tuple(out.shape) == (5, 7)
    assert model.name == "small_cnn"
