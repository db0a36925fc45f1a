"""The architectures: shapes, BatchNorm, adaptive pooling, saving."""

import keras
import numpy as np
import pytest

from keras_gs import backbones
from keras_gs.backbones.layers import AdaptiveAveragePooling2D
from keras_gs.backbones.layers import FrozenStatsBatchNormalization


def test_names_lists_the_torchvision_backbones():
    assert backbones.names() == ["alexnet", "resnet18", "resnet50", "small_cnn"]


@pytest.mark.parametrize(
    "name, params",
    [  # torchvision's parameter counts (BatchNorm statistics excluded)
        ("alexnet", 61_100_840),
        ("resnet18", 11_689_512),
        ("resnet50", 25_557_032),
    ],
)
def test_parameter_counts_are_torchvision_s(name, params):
    model = backbones.get(name, (224, 224, 3), 1000)
    batchnorm_stats = sum(
        2 * layer.moving_mean.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert model.count_params() - batchnorm_stats == params
    assert model.name == name
    assert model.layers[-1].name == "logits"


def test_resnet_feature_maps_at_224():
    model = backbones.get("resnet50", (224, 224, 3), 7)
    sizes = {
        name: model.get_layer(name).output.shape[1:]
        for name in (
            "conv1",
            "maxpool",
            "layer1.2.relu",
            "layer2.0.conv2",
            "layer4.2.relu",
        )
    }
    assert sizes == {
        "conv1": (112, 112, 64),
        "maxpool": (56, 56, 64),
        "layer1.2.relu": (56, 56, 256),
        "layer2.0.conv2": (28, 28, 128),  # v1.5: the 3x3 conv strides
        "layer4.2.relu": (7, 7, 2048),
    }
    assert model.get_layer("layer2.0.conv1").strides == (1, 1)


def test_alexnet_at_224_has_a_6x6_map():
    model = backbones.get("alexnet", (224, 224, 3), 7)
    assert model.get_layer("pool5").output.shape[1:] == (6, 6, 256)
    assert model.output_shape == (None, 7)
    dropouts = [
        l.rate for l in model.layers if isinstance(l, keras.layers.Dropout)
    ]
    assert dropouts == [0.5, 0.5]


def test_alexnet_refuses_small_images():
    with pytest.raises(
        ValueError, match=r"at least 63x63.*input_shape=\(62, 80, 3\)"
    ):
        backbones.get("alexnet", (62, 80, 3), 7)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"'resnet18' has no option freeze_bn. Valid: freeze_batchnorm_stats, dropout",
    ):
        backbones.get("resnet18", (32, 32, 3), 7, freeze_bn=True)


def test_batchnorm_is_torch_s():
    model = backbones.get("resnet18", (32, 32, 3), 7)
    bns = [
        l
        for l in model.layers
        if isinstance(l, keras.layers.BatchNormalization)
    ]
    assert len(bns) == 20
    assert {(l.epsilon, l.momentum) for l in bns} == {(1e-5, 0.9)}
    assert not any(isinstance(l, FrozenStatsBatchNormalization) for l in bns)


def test_frozen_batchnorm_stats_as_domainbed():
    keras.utils.set_random_seed(0)
    model = backbones.get(
        "resnet18", (32, 32, 3), 3, freeze_batchnorm_stats=True
    )
    bn = model.get_layer("layer1.0.bn1")
    assert isinstance(bn, FrozenStatsBatchNormalization)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(model(x, training=True)),
        np.asarray(model(x, training=False)),
        atol=1e-6,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    stats = bn.moving_mean.numpy().copy()
    gamma = bn.gamma.numpy().copy()
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(bn.moving_mean.numpy(), stats)  # not updated
    assert not np.array_equal(bn.gamma.numpy(), gamma)  # still trained


def test_adaptive_pooling_is_torch_s():
    x = np.arange(2 * 12 * 3 * 1, dtype="float32").reshape(2, 12, 3, 1)
    pool = AdaptiveAveragePooling2D((6, 6))
    got = np.asarray(pool(x))
    # 12 rows -> 6: pairs averaged; 3 columns -> 6: each repeated.
    expected = x.reshape(2, 6, 2, 3, 1).mean(axis=2).repeat(2, axis=2)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # 5 -> 6: torch's bins [0,1) [0,2) [1,3) [2,4) [3,5) [4,5) overlap.
    row = np.array([1, 2, 4, 8, 16], "float32").reshape(1, 5, 1, 1)
    got = np.asarray(AdaptiveAveragePooling2D((6, 1))(row))[0, :, 0, 0]
    np.testing.assert_allclose(got, [1, 1.5, 3, 6, 12, 16])
    same = np.ones((1, 6, 6, 2), "float32")
    assert AdaptiveAveragePooling2D((6, 6))(same) is same or np.array_equal(
        np.asarray(AdaptiveAveragePooling2D((6, 6))(same)), same
    )
    config = keras.layers.serialize(pool)
    assert keras.layers.deserialize(config).output_size == (6, 6)


def test_resnet_saves_as_keras_file(tmp_path):
    model = backbones.get(
        "resnet18", (32, 32, 3), 4, freeze_batchnorm_stats=True, dropout=0.1
    )
    model.save(tmp_path / "r.keras")
    again = keras.saving.load_model(tmp_path / "r.keras")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))
    assert isinstance(again.get_layer("bn1"), FrozenStatsBatchNormalization)
