"""The registry of surgery names and Keras serialization."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gs import surgery

EXPECTED = {
    "agr-rand",
    "agr-sum",
    "and-mask",
    "deep-all",
    "erm",
    "mean",
    "pcgrad",
    "sand-mask",
    "sum",
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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialization_round_trip(name):
    kwargs = {"and-mask": {"tau": 0.7}, "sand-mask": {"tau": 0.3, "k": 2.0}}
    original = surgery.get(name, **kwargs.get(name, {}))
    restored = surgery.deserialize(surgery.serialize(original))
    assert type(restored) is type(original)
    assert restored.get_config() == original.get_config()
    grads = [[tf.constant([1.0, -2.0])], [tf.constant([3.0, 1.0])]]
    seed = tf.constant([1, 1])
    np.testing.assert_allclose(
        original(grads, seed=seed)[0].numpy(),
        restored(grads, seed=seed)[0].numpy(),
    )
