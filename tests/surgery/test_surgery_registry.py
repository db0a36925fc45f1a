"""The registry of surgery names and Keras serialization."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs import surgery

EXPECTED = {
    "agr-rand",
    "agr-sum",
    "aligned-mtl",
    "and-mask",
    "cagrad",
    "config",
    "deep-all",
    "dualproj",
    "erm",
    "graddrop",
    "gradvac",
    "imtl-g",
    "mean",
    "mgda",
    "nash-mtl",
    "pcgrad",
    "sand-mask",
    "sum",
    "upgrad",
}
# Options that differ from the defaults, to see them survive a round trip.
OPTIONS = {
    "and-mask": {"tau": 0.7},
    "sand-mask": {"tau": 0.3, "k": 2.0},
    "pcgrad": {"order": "per_domain"},
    "cagrad": {"c": 0.4, "rescale": 1},
    "gradvac": {"beta": 0.3, "group": "variable"},
    "aligned-mtl": {"scale_mode": "median"},
    "nash-mtl": {"max_norm": 2.0},
    "graddrop": {"leak": 0.2},
}


def test_names_are_what_users_type():
    # The methods that change the step are tested in test_step_methods.
    assert set(surgery.names(step_method=False)) == EXPECTED


def test_get_by_name_with_arguments():
    mask = surgery.get("and-mask", tau=0.8)
    assert isinstance(mask, surgery.AndMask) and mask.tau == 0.8
    assert isinstance(surgery.get("Deep-All"), surgery.ERM)
    assert surgery.get(mask) is mask


def test_unknown_name_names_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"Received: surgery='agr_sum'.*agr-sum"
    ):
        surgery.get("agr_sum")


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="tau"):
        surgery.get("and-mask", tau=2.0)
    with pytest.raises(ValueError, match="agr-sum"):
        surgery.get("agr-sum", tau=0.5)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("pcgrad", {"order": "random"}, r"PCGrad order.*order='random'.*shared, per_domain"),
        ("cagrad", {"c": -1}, r"cagrad.*c=-1"),
        ("cagrad", {"rescale": 3}, r"rescale=3.*0, 1, 2"),
        ("gradvac", {"beta": 2}, r"gradvac.*beta=2"),
        ("gradvac", {"group": "block"}, r"GradVac group.*group='block'.*network, layer, variable"),
        ("aligned-mtl", {"scale_mode": "max"}, r"scale_mode='max'.*min"),
        ("nash-mtl", {"max_norm": -1}, r"nash-mtl.*max_norm=-1"),
        ("graddrop", {"leak": 1.5}, r"graddrop.*leak=1.5"),
        ("mgda", {"c": 1}, r"Invalid arguments for surgery 'mgda'"),
    ],
)
def test_bad_rule_options_name_the_argument_and_the_valid_values(
    name, options, message
):
    with pytest.raises(ValueError, match=message):
        surgery.get(name, **options)


def test_every_rule_is_in_one_family():
    # The families say what the training step computes for a rule: a Gram
    # matrix and weights, or an element-wise rule; sum and mean stream.
    gram = {"sum", "mean", "erm", "deep-all", "pcgrad", "mgda", "cagrad",
            "gradvac", "imtl-g", "upgrad", "dualproj", "nash-mtl",
            "aligned-mtl", "config"}
    for name in EXPECTED:
        rule = surgery.get(name)
        assert isinstance(rule, surgery.GramWeighting) == (name in gram), name
        assert isinstance(rule, surgery.ElementwiseRule) == (
            name not in gram
        ), name
        assert rule.streams == (
            name in {"sum", "mean", "erm", "deep-all", "agr-sum", "and-mask"}
        ), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialization_round_trip(name):
    original = surgery.get(name, **OPTIONS.get(name, {}))
    restored = surgery.deserialize(surgery.serialize(original))
    assert type(restored) is type(original)
    assert restored.get_config() == original.get_config()
    grads = [[tf.constant([1.0, -2.0])], [tf.constant([3.0, 1.0])]]
    seed = tf.constant([1, 1])
    np.testing.assert_allclose(
        original(grads, seed=seed)[0].numpy(),
        restored(grads, seed=seed)[0].numpy(),
    )
