"""The port: torchvision state dict -> Keras model with the same outputs.

The reference is torchvision's forward pass written in NumPy
(`torch_reference.py`), run on the random state dict that was ported.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch_reference

from keras_gs import backbones
from keras_gs.backbones import torchvision_port
from keras_gs.backbones import weights as weights_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "port_torchvision_weights.py"


def _images(shape, seed=0):
    """A batch of 2 NHWC images and the same as NCHW."""
    x = np.random.default_rng(seed).normal(size=(2, *shape)).astype("float32")
    return x, x.transpose(0, 3, 1, 2)


def _check(model, reference, shape):
    x, x_nchw = _images(shape)
    expected = reference(x_nchw)
    got = np.asarray(model(x, training=False))
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 0.1  # not a trivial comparison
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "shape",
    [
        (127, 99, 3),  # last map 3x2: adaptive pooling repeats and stretches
        (67, 67, 3),  # last map 1x1: the smallest input size
    ],
)
def test_alexnet_matches_torchvision(ported, shape):
    p = ported("alexnet")
    model = backbones.get("alexnet", shape, 1000, weights=str(p.weights))
    _check(
        model, lambda x: torch_reference.alexnet_forward(p.state_dict, x), shape
    )


@pytest.mark.parametrize(
    "arch, shape",
    [
        ("resnet18", (64, 64, 3)),  # even sizes: torch's stride-2 padding
        ("resnet18", (45, 37, 3)),  # odd sizes
        ("resnet50", (32, 32, 3)),
    ],
)
def test_resnet_matches_torchvision(ported, arch, shape):
    p = ported(arch)
    model = backbones.get(arch, shape, 1000, weights=str(p.weights))
    depth = int(arch[6:])
    _check(
        model,
        lambda x: torch_reference.resnet_forward(p.state_dict, x, depth),
        shape,
    )


def test_ported_file_loads_with_keras_load_weights(ported):
    p = ported("resnet18")
    ours = backbones.get("resnet18", (32, 32, 3), 1000, weights=str(p.weights))
    theirs = backbones.get("resnet18", (32, 32, 3), 1000)
    theirs.load_weights(p.weights)
    x, _ = _images((32, 32, 3))
    np.testing.assert_array_equal(
        np.asarray(theirs(x, training=False)),
        np.asarray(ours(x, training=False)),
    )


def test_alexnet_fc6_rows_follow_keras_flatten_order(ported):
    # torch's fc6 input index c*36 + h*6 + w is Keras's (h*6 + w)*256 + c.
    p = ported("alexnet")
    torch_fc6 = p.state_dict["classifier.1.weight"]
    layers = weights_lib.read(p.weights)
    keras_fc6 = layers["fc6"][0]
    c, h, w = 5, 2, 3
    np.testing.assert_array_equal(
        keras_fc6[(h * 6 + w) * 256 + c], torch_fc6[:, c * 36 + h * 6 + w]
    )


# -- bad state dicts ---------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_model():
    return backbones.get("resnet18", (32, 32, 3), 1000)


def test_missing_key_is_named(ported, resnet18_model):
    sd = dict(ported("resnet18").state_dict)
    del sd["layer3.1.bn2.running_var"]
    with pytest.raises(
        ValueError, match=r"f.npz: missing key 'layer3.1.bn2.running_var'"
    ):
        torchvision_port.convert("resnet18", sd, resnet18_model, "f.npz")


def test_unexpected_key_is_named(ported, resnet18_model):
    sd = dict(ported("resnet18").state_dict)
    sd["module.extra.weight"] = np.zeros(3, "float32")
    with pytest.raises(
        ValueError, match=r"unexpected key\(s\) 'module.extra.weight'"
    ):
        torchvision_port.convert("resnet18", sd, resnet18_model, "f.npz")


def test_wrong_shape_is_named(ported, resnet18_model):
    sd = dict(ported("resnet18").state_dict)
    sd["layer1.0.conv1.weight"] = np.zeros((64, 64, 1, 1), "float32")
    with pytest.raises(
        ValueError,
        match=r"key 'layer1.0.conv1.weight' has shape \(64, 64, 1, 1\), "
        r"torchvision's resnet18 has \(64, 64, 3, 3\)",
    ):
        torchvision_port.convert("resnet18", sd, resnet18_model, "f.npz")


def test_another_architecture_is_refused(ported, tmp_path):
    with pytest.raises(ValueError, match="missing key 'classifier.6.weight'"):
        torchvision_port.port(
            "alexnet", ported("resnet18").npz, tmp_path / "a.weights.h5"
        )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"arch": "vgg16"},
            ValueError,
            r"arch='vgg16'. Valid: alexnet, resnet18, resnet50",
        ),
        ({"input_path": "nope.npz"}, FileNotFoundError, r"input='nope.npz'"),
        (
            {"input_path": "model.onnx"},
            ValueError,
            r"input='model.onnx'. Valid: .*\.npz",
        ),
        ({"output_path": "out.h5"}, ValueError, r"output='out.h5'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    args = {
        "arch": "resnet18",
        "input_path": "nope.npz",
        "output_path": "o.weights.h5",
    }
    with pytest.raises(error, match=match):
        torchvision_port.port(**{**args, **kwargs})


def test_unreadable_npz_is_named(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz"):
        torchvision_port.read_state_dict(bad)


# -- the tool ------------------------------------------------------------------


def _run_tool(*args, cache=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if cache is not None:
        env["KERAS_GS_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_tool_ports_into_the_cache(ported, tmp_path):
    p = ported("resnet18")
    result = _run_tool("--arch=resnet18", f"--input={p.npz}", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "resnet18_imagenet.weights.h5"
    assert str(written) in result.stdout
    model = backbones.get(
        "resnet18", (32, 32, 3), 1000, weights="imagenet", cache_dir=tmp_path
    )
    expected = weights_lib.read(p.weights)
    for layer in ("conv1", "layer4.1.bn2", "logits"):
        for got, want in zip(
            model.get_layer(layer).get_weights(), expected[layer]
        ):
            np.testing.assert_array_equal(got, want)
    assert [f.name for f in tmp_path.iterdir()] == [
        written.name
    ]  # no temp left


def test_tool_error_is_one_line(ported, tmp_path):
    sd = dict(ported("resnet18").state_dict)
    del sd["fc.bias"]
    np.savez(tmp_path / "broken.npz", **sd)
    result = _run_tool(
        "--arch=resnet18",
        f"--input={tmp_path / 'broken.npz'}",
        f"--output={tmp_path / 'out.weights.h5'}",
    )
    # The tools' convention for bad input: one line, status 2.
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [
        l for l in result.stderr.splitlines() if "missing key 'fc.bias'" in l
    ]
    assert len(lines) == 1 and "broken.npz" in lines[0], result.stderr
    assert not (tmp_path / "out.weights.h5").exists()
