"""`weights=`: a .weights.h5 path or "imagenet", partial loading, errors."""

import logging

import numpy as np
import pytest

from keras_gs import backbones
from keras_gs.backbones import torchvision_port
from keras_gs.backbones import weights as weights_lib


def _assert_loaded(model, path, except_layers=()):
    layers = weights_lib.read(path)
    for layer in model.layers:
        if not layer.weights or layer.name in except_layers:
            continue
        for got, want in zip(
            layer.get_weights(), layers[layer.name], strict=True
        ):
            np.testing.assert_array_equal(got, want)


def test_other_num_classes_loads_all_but_logits(ported, caplog):
    p = ported("alexnet")
    with caplog.at_level(logging.WARNING, logger="keras_gs"):
        model = backbones.get("alexnet", (63, 63, 3), 7, weights=str(p.weights))
    _assert_loaded(model, p.weights, except_layers=("logits",))
    kernel, bias = model.get_layer("logits").get_weights()
    assert kernel.shape == (4096, 7) and np.abs(kernel).max() > 0
    assert np.abs(kernel).max() <= 1 / np.sqrt(4096)  # torch's Linear init
    [record] = caplog.records
    message = record.getMessage()
    assert "\n" not in message
    assert message == (
        f"alexnet: 7 classes, {p.weights} has 1000: layer 'logits' freshly "
        "initialized, every other layer loaded."
    )


def test_same_num_classes_loads_everything_silently(ported, caplog):
    p = ported("resnet18")
    with caplog.at_level(logging.INFO, logger="keras_gs"):
        model = backbones.get(
            "resnet18", (32, 32, 3), 1000, weights=str(p.weights)
        )
    _assert_loaded(model, p.weights)
    assert not caplog.records


def test_imagenet_reads_the_cache(ported, tmp_path, monkeypatch):
    p = ported("resnet18")
    written = torchvision_port.port("resnet18", p.npz, cache=tmp_path)
    assert written == tmp_path / "resnet18_imagenet.weights.h5"
    model = backbones.get(
        "resnet18", (32, 32, 3), 10, weights="imagenet", cache_dir=tmp_path
    )
    _assert_loaded(model, written, except_layers=("logits",))
    monkeypatch.setenv("KERAS_GS_CACHE", str(tmp_path))
    assert weights_lib.imagenet_path("resnet18") == written
    backbones.get("resnet18", (32, 32, 3), 10, weights="imagenet")


def test_default_cache_is_under_keras_home(monkeypatch):
    monkeypatch.delenv("KERAS_GS_CACHE", raising=False)
    path = weights_lib.imagenet_path("alexnet")
    assert str(path).endswith(".keras/keras_gs/alexnet_imagenet.weights.h5")
    assert "~" not in str(path)


@pytest.mark.parametrize("cache_given", [False, True])
def test_missing_imagenet_weights_give_the_port_command(
    tmp_path, monkeypatch, cache_given
):
    monkeypatch.setenv("KERAS_GS_CACHE", str(tmp_path / "env"))
    kwargs = {"cache_dir": str(tmp_path / "arg")} if cache_given else {}
    with pytest.raises(FileNotFoundError) as info:
        backbones.get("resnet50", (32, 32, 3), 7, weights="imagenet", **kwargs)
    message = str(info.value)
    assert "\n" not in message
    command = (
        "python tools/port_torchvision_weights.py --arch resnet50 "
        "--input resnet50-0676ba61.pth"
    )
    assert command in message
    expected = tmp_path / ("arg" if cache_given else "env")
    assert str(expected / "resnet50_imagenet.weights.h5") in message
    assert message.endswith(
        f"--output {expected / 'resnet50_imagenet.weights.h5'}"
        if cache_given
        else command
    )


@pytest.mark.parametrize(
    "weights, error, match",
    [
        ("resnet18.h5", ValueError, r"weights='resnet18.h5'"),
        (
            "model.keras",
            ValueError,
            r"'imagenet' or the path of a Keras '.weights.h5'",
        ),
        (3, ValueError, r"weights=3"),
        (
            "nope/x.weights.h5",
            FileNotFoundError,
            r"weights='nope/x.weights.h5'",
        ),
    ],
)
def test_bad_weights_values_are_named(weights, error, match):
    with pytest.raises(error, match=match):
        backbones.get("resnet18", (32, 32, 3), 7, weights=weights)


def test_a_file_that_is_not_hdf5_is_named(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_text("not hdf5")
    with pytest.raises(
        ValueError, match=r"broken.weights.h5: not a readable HDF5"
    ):
        backbones.get("resnet18", (32, 32, 3), 7, weights=str(path))


def test_imagenet_for_a_backbone_without_it_is_refused():
    with pytest.raises(
        ValueError,
        match=r"name='small_cnn'. Valid: alexnet, resnet18, resnet50",
    ):
        backbones.get("small_cnn", (28, 28, 1), 7, weights="imagenet")


def test_weights_of_another_architecture_are_refused(ported):
    p = ported("resnet18")
    with pytest.raises(
        ValueError,
        match=r"resnet18.weights.h5: layer 'layer1.0.conv1' has variables of "
        r"shapes \[\(3, 3, 64, 64\)\] in the file, \[\(1, 1, 64, 64\)\] in 'resnet50'",
    ):
        backbones.get("resnet50", (32, 32, 3), 1000, weights=str(p.weights))


def test_a_layer_missing_from_the_file_is_named():
    model = backbones.get("small_cnn", (28, 28, 1), 10)
    layers = {layer.name: layer.get_weights() for layer in model.layers}
    del layers["fc1"]
    with pytest.raises(
        ValueError, match=r"f.h5: layer 'fc1' of 'small_cnn' is not in the file"
    ):
        weights_lib.assign(model, layers, "f.h5")


def test_other_input_channels_are_refused(ported):
    p = ported("resnet18")
    with pytest.raises(
        ValueError, match=r"layer 'conv1' has variables of shapes"
    ):
        backbones.get("resnet18", (32, 32, 1), 1000, weights=str(p.weights))


def test_fine_tuned_weights_round_trip(tmp_path):
    model = backbones.get("resnet18", (32, 32, 3), 5)
    path = weights_lib.save(model, tmp_path / "tuned.weights.h5")
    again = backbones.get("resnet18", (32, 32, 3), 5, weights=str(path))
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(again(x, training=False)),
        np.asarray(model(x, training=False)),
    )
    assert sorted(f.name for f in tmp_path.iterdir()) == ["tuned.weights.h5"]


def test_weights_of_a_saved_grad_surgery_model_load(tmp_path):
    import keras_gs

    network = backbones.get("resnet18", (32, 32, 3), 5)
    keras_gs.GradSurgeryModel(network, surgery="erm").save_weights(
        tmp_path / "gs.weights.h5"
    )
    again = backbones.get(
        "resnet18", (32, 32, 3), 5, weights=str(tmp_path / "gs.weights.h5")
    )
    for a, b in zip(again.weights, network.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
