"""End-to-end tests of `load` on folder trees, PACS and rotated digits."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_gs.data.load import load
from keras_gs.data.zip_domains import zip_domains

# image_files.py lies beside this file (pytest puts tests/data on the path).
from image_files import CLASS_COLORS
from image_files import make_tree
from image_files import write_bad

# Per domain: cat 10 -> train 7, val 1, test 2; dog 5 -> 3, 1, 1 (0.5 is
# rounded up). So each domain has train 10, val 2, test 3.
PER_CLASS = {"cat": 10, "dog": 5}


@pytest.fixture
def tree(tmp_path):
    return make_tree(
        tmp_path / "tree", ["a", "b", "c"], ["cat", "dog"], PER_CLASS
    )


def _small(root, **kwargs):
    kwargs.setdefault("image_size", 8)
    kwargs.setdefault("normalization", "unit")
    return load("folder", root, **kwargs)


def test_folder_splits_sizes_and_pixels(tree):
    splits = _small(tree, test_domains="c")
    assert splits.source_domains == ["a", "b"]
    assert splits.test_domains == ["c"]
    assert splits.class_names == ["cat", "dog"]
    assert splits.num_classes == 2
    assert splits.sizes == {
        "train": {"a": 10, "b": 10},
        "val": {"a": 2, "b": 2},
        "test": {"c": 3},
    }
    assert [len(d) for d in splits.train_domains] == [10, 10]
    assert (len(splits.val), len(splits.test)) == (4, 3)
    assert splits.image_shape == (8, 8, 3)
    for dataset in [*splits.train_domains, splits.val, splits.test]:
        labels = []
        for image, label in dataset.as_numpy_iterator():
            assert image.dtype == np.float32 and image.shape == (8, 8, 3)
            # Solid class colors survive decoding, resizing and "unit".
            np.testing.assert_allclose(
                image[0, 0], np.array(CLASS_COLORS[label]) / 255, atol=1e-6
            )
            labels.append(int(label))
        assert labels  # Every split yields something.
    test_labels = sorted(int(y) for _, y in splits.test.as_numpy_iterator())
    assert test_labels == [0, 0, 1]


def test_uint8_output(tree):
    splits = _small(tree, test_domains="c", normalization="none")
    image, label = next(splits.test.as_numpy_iterator())
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[3, 3], CLASS_COLORS[label])


def test_train_domains_feed_zip_domains(tree):
    splits = _small(tree, test_domains="c")
    x, y = next(iter(zip_domains(splits.train_domains, 4, seed=0)))
    assert x.shape == (4, 2, 8, 8, 3)
    assert y.shape == (4, 2) and y.dtype == tf.int32


def test_summary(tree):
    text = _small(tree, test_domains="c").summary()
    lines = text.splitlines()
    assert lines[1].split() == ["a", "source", "10", "2", "0"]
    assert lines[3].split() == ["c", "test", "0", "0", "3"]
    assert lines[4].split() == ["total", "20", "4", "3"]
    assert "2 classes" in text


def test_whole_test_domains_and_names(tree):
    splits = _small(tree, test_domains=["B", "c"], test_on="domain")
    assert splits.test_domains == ["b", "c"]
    assert splits.source_domains == ["a"]
    assert splits.sizes["test"] == {"b": 15, "c": 15}
    assert len(splits.test) == 30


def test_default_is_first_domain_and_paper_pipeline(tree):
    splits = load("folder", tree)
    assert splits.test_domains == ["a"]
    assert splits.image_shape == (224, 224, 3)  # 227 then 224.
    image, label = next(splits.test.as_numpy_iterator())
    red_or_green = np.array(CLASS_COLORS[label]) / 255.0
    expected = (red_or_green - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(image[100, 100], expected, rtol=1e-5)


def test_split_seed(tree):
    def order(seed):
        splits = _small(tree, test_domains="c", split_seed=seed)
        return [int(y) for _, y in splits.train_domains[0].as_numpy_iterator()]

    assert order(0) == order(0)
    assert sorted(order(0)) == sorted(order(1)) == [0] * 7 + [1] * 3
    assert order(0) != order(1)


def test_bad_files(tree):
    bad = write_bad(os.path.join(tree, "b", "dog", "zz.png"), "png_bad_crc")
    with pytest.raises(ValueError, match="zz.png"):
        _small(tree, test_domains="c")
    splits = _small(tree, test_domains="c", on_bad_image="skip")
    assert splits.skipped_files == [bad]
    assert splits.sizes["train"] == {"a": 10, "b": 10}
    assert "1 unreadable file(s) skipped" in splits.summary()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"test_domains": "d"}, ValueError, r"'d'.*Valid: a, b, c"),
        ({"test_domains": ["a", "b", "c"]}, ValueError, "leave at least one"),
        ({"test_on": "all"}, ValueError, r"test_on='all'.*Valid: split, domain"),
        ({"image_size": 0}, ValueError, r"image_size=0"),
        ({"cache": 3}, ValueError, r"cache=3"),
        ({"resize_filter": "nearest"}, ValueError, r"'nearest'.*Valid: bilinear, area"),
        ({"check_images": "deep"}, ValueError, r"'deep'.*Valid: header, full"),
        ({"on_bad_image": "warn"}, ValueError, r"'warn'.*Valid: raise, skip"),
        ({"normalization": "bgr"}, ValueError, r"normalization='bgr'"),
        ({"fractions": (0.8, 0.1)}, ValueError, r"fractions=\(0.8, 0.1\)"),
    ],
)
def test_bad_arguments(tree, kwargs, error, match):
    with pytest.raises(error, match=match):
        _small(tree, **kwargs)


def test_bad_name_and_missing_dirs(tmp_path):
    with pytest.raises(ValueError, match=r"name='mnist'.*Valid: .*rotated_digits"):
        load("mnist")
    with pytest.raises(FileNotFoundError, match="data_dir=None"):
        load("folder")
    with pytest.raises(FileNotFoundError, match="missing"):
        load("folder", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="VLCS.tar.gz"):
        load("vlcs", str(tmp_path / "tfds"))


def test_cache_to_files_and_augmentation(tree, tmp_path):
    cache = str(tmp_path / "cache")
    splits = _small(
        tree, test_domains="c", cache=cache, augmentation="domainbed",
        augmentation_seed=0,
    )
    images = [x for x, _ in splits.train_domains[0].as_numpy_iterator()]
    assert len(images) == 10 and images[0].shape == (8, 8, 3)
    assert any(name.startswith("keras_gs-") for name in os.listdir(cache))


def test_pacs_from_manual_dir(tmp_path):
    from keras_gs.data.tfds_builders import Pacs

    manual = tmp_path / "manual"
    make_tree(manual / "kfold", Pacs.DOMAINS, Pacs.CLASS_NAMES, 5)
    kwargs = dict(
        data_dir=str(tmp_path / "tfds"),
        test_domains="sketch",
        image_size=8,
        normalization="unit",
    )
    splits = load("pacs", manual_dir=str(manual), **kwargs)
    # 5 per class -> 3 / 1 / 1; 7 classes per domain.
    assert splits.sizes["train"] == {
        "art_painting": 21, "cartoon": 21, "photo": 21,
    }
    assert splits.sizes["val"] == {"art_painting": 7, "cartoon": 7, "photo": 7}
    assert splits.sizes["test"] == {"sketch": 7}
    test = list(splits.test.as_numpy_iterator())
    assert sorted(int(y) for _, y in test) == list(range(7))
    for image, label in test:
        np.testing.assert_allclose(
            image[4, 4], np.array(CLASS_COLORS[label]) / 255, atol=1e-6
        )
    # Prepared now: no manual directory needed, same split.
    again = load("pacs", **kwargs)
    assert [int(y) for _, y in again.test.as_numpy_iterator()] == [
        int(y) for _, y in test
    ]


def test_rotated_digits(tmp_path):
    splits = load("rotated_digits", test_domains="75", test_on="domain")
    assert splits.source_domains == ["0", "15", "30", "45", "60"]
    assert splits.sizes["test"] == {"75": 299}
    assert splits.image_shape == (28, 28, 1)
    total = sum(
        splits.sizes[s][d]
        for s in ("train", "val")
        for d in splits.source_domains
    )
    # The sources hold 300 + 300 + 300 + 299 + 299 = 1,498 digits, about
    # 80 % of which are train or val.
    assert 0.78 * 1498 < total < 0.82 * 1498
    x, y = next(splits.train_domains[0].as_numpy_iterator())
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(ValueError, match="needs RGB"):
        load("rotated_digits", augmentation="domainbed")
    rgb = load(
        "rotated_digits",
        image_size=16,
        augmentation="domainbed",
        dataset_kwargs={"channels": 3},
    )
    assert rgb.image_shape == (16, 16, 3)


def test_test_val_is_the_test_domains_val_split(tree):
    # Per domain (PER_CLASS): val 2 (a cat, a dog), test 3.
    splits = _small(tree, test_domains="c")
    assert len(splits.test_val) == 2 and len(splits.test) == 3
    labels = sorted(int(y) for _, y in splits.test_val.as_numpy_iterator())
    assert labels == [0, 1]
    # With test_on="domain", test is all of c and test_val still its val.
    whole = _small(tree, test_domains="c", test_on="domain")
    assert len(whole.test_val) == 2 and len(whole.test) == 15
    assert len(_small(tree, test_domains=["b", "c"]).test_val) == 4
    # Digits are all different: test_val and test are disjoint.
    digits = load("rotated_digits", test_domains="75")
    val = {x.tobytes() for x, _ in digits.test_val.as_numpy_iterator()}
    test = {x.tobytes() for x, _ in digits.test.as_numpy_iterator()}
    assert len(val) == len(digits.test_val) == 30 and not val & test
