"""The dataset catalog: one table, declared by the dataset modules."""

import numpy as np
import pytest
import tensorflow as tf

import keras_gs
from keras_gs.data import catalog
from keras_gs.data import domainnet
from keras_gs.data import folder
from keras_gs.data import rotated_digits
from keras_gs.data.domain_source import DomainSource
from keras_gs.data.spec import Dataset
from keras_gs.data.tfds_builders import office_home
from keras_gs.data.tfds_builders import pacs
from keras_gs.data.tfds_builders import vlcs

MODULES = (pacs, vlcs, office_home, domainnet, folder, rotated_digits)


def test_names_are_the_modules_declarations_in_order():
    declared = [d.name for module in MODULES for d in module.DATASETS]
    # No name declared twice (the table would keep only the last).
    assert len(declared) == len(set(declared))
    assert keras_gs.data.names() == declared == [
        "pacs", "vlcs", "office_home", "domainnet", "folder", "rotated_digits"
    ]
    assert keras_gs.data.DATASETS == tuple(declared)
    assert keras_gs.experiment.ExperimentConfig.CHOICES["dataset"] == tuple(
        declared
    )


def test_get_names_the_argument_and_the_valid_names():
    assert keras_gs.data.get("pacs") is pacs.DATASETS[0]
    with pytest.raises(ValueError) as error:
        keras_gs.data.get("mnist", argument="dataset")
    assert str(error.value) == (
        "Unknown dataset. Received: dataset='mnist'. Valid: pacs, vlcs, "
        "office_home, domainnet, folder, rotated_digits"
    )


def test_a_dataset_declared_once_is_loaded_by_name(monkeypatch):
    # Adding a dataset is declaring one `Dataset`: here two domains of 10
    # 2 x 2 gray images whose pixels hold index / 10, labelled index % 2.
    def make_source(request):
        assert request.options == {"examples": 10}
        count = request.options["examples"]

        def make_dataset(domain, indices, min_side=None):
            del domain, min_side
            x = np.stack([np.full((2, 2, 1), i / 10) for i in indices])
            y = np.array([i % 2 for i in indices], np.int32)
            return tf.data.Dataset.from_tensor_slices((x.astype("float32"), y))

        return DomainSource(
            domains=["a", "b"],
            class_names=["even", "odd"],
            labels={d: [i % 2 for i in range(count)] for d in ("a", "b")},
            make_dataset=make_dataset,
            image_size=(),
            normalization="unit",
            in_memory=True,
        )

    monkeypatch.setitem(
        catalog.DATASETS, "tiny", Dataset("tiny", make_source, built_at_size=True)
    )
    splits = keras_gs.data.load(
        "tiny", test_domains="b", dataset_kwargs={"examples": 10}
    )
    assert splits.source_domains == ["a"] and splits.test_domains == ["b"]
    assert splits.image_shape == (2, 2, 1)
    sizes = splits.domain_sizes["a"]
    assert sizes["train"] + sizes["val"] + sizes["test"] == 10
    x, y = next(iter(splits.train_domains[0].batch(100)))
    index = np.round(x.numpy()[:, 0, 0, 0] * 10).astype(int)
    assert len(index) == sizes["train"] and len(set(index)) == len(index)
    np.testing.assert_array_equal(y.numpy(), index % 2)
