"""Tests for folder-tree indexing, validation and reading."""

import os

import numpy as np
import pytest

from keras_gs.data.folder import folder_source
from keras_gs.data.folder import index_folder

# image_files.py lies beside this file (pytest puts tests/data on the path).
from image_files import CLASS_COLORS
from image_files import make_tree
from image_files import write_bad
from image_files import write_image


def test_index_lists_images_only(tmp_path):
    per_class = {"cat": 2, "dog": 1, "emu": 3}
    root = make_tree(tmp_path, ["b", "a"], ["cat", "dog", "emu"], per_class)
    (tmp_path / "README.txt").write_text("not a domain")
    (tmp_path / "a" / "cat" / "notes.txt").write_text("not an image")
    write_image(str(tmp_path / "a" / "cat" / ".hidden.png"))
    write_image(str(tmp_path / "a" / "dog" / "UPPER.PNG"))

    index = index_folder(root)
    assert index.domains == ["a", "b"]
    assert index.class_names == ["cat", "dog", "emu"]
    assert [y for _, y in index.files["a"]] == [0, 0, 1, 1, 2, 2, 2]
    assert [y for _, y in index.files["b"]] == [0, 0, 1, 2, 2, 2]
    names = [os.path.basename(p) for p, _ in index.files["a"]]
    assert names[:4] == ["000.png", "001.png", "000.png", "UPPER.PNG"]


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        index_folder(str(tmp_path / "nowhere"))


def test_no_domains(tmp_path):
    with pytest.raises(ValueError, match="No domain folders"):
        index_folder(str(tmp_path))


def test_domains_with_different_classes(tmp_path):
    make_tree(tmp_path, ["a"], ["cat", "dog"])
    make_tree(tmp_path, ["b"], ["cat"])
    with pytest.raises(
        ValueError, match=r"Domain 'b' lacks class folder\(s\) \['dog'\]"
    ):
        index_folder(str(tmp_path))


def test_domain_without_classes(tmp_path):
    make_tree(tmp_path, ["a"], ["cat"])
    os.makedirs(tmp_path / "c")
    with pytest.raises(ValueError, match=r"Domain 'c' .*no class folders"):
        index_folder(str(tmp_path))


def test_empty_class(tmp_path):
    make_tree(tmp_path, ["a", "b"], ["cat", "dog"])
    for name in os.listdir(tmp_path / "b" / "dog"):
        os.remove(tmp_path / "b" / "dog" / name)
    (tmp_path / "b" / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(
        ValueError, match=r"Class folder 'dog' of domain 'b' holds no image"
    ):
        index_folder(str(tmp_path))


def test_expected_domain_missing(tmp_path):
    make_tree(tmp_path, ["a"], ["cat"])
    with pytest.raises(FileNotFoundError, match=r"\['photo'\] not found"):
        index_folder(str(tmp_path), domains=["a", "photo"])


def test_reads_every_format_with_its_label(tmp_path):
    # Color-preserving kinds only, so the color tells the class.
    kinds = ("png", "jpeg", "bmp_palette", "gif", "png_rgba", "jpeg_cmyk")
    root = make_tree(tmp_path, ["a"], ["cat", "dog"], 6, kinds)
    write_image(
        str(tmp_path / "a" / "dog" / "big.jpg"), "jpeg", CLASS_COLORS[1],
        (500, 375),
    )
    source = folder_source(root)
    assert source.labels["a"] == [0] * 6 + [1] * 7
    seen = 0
    for image, label in source.make_dataset("a", list(range(13))):
        image = image.numpy().astype(int)
        assert image.shape[-1] == 3
        color = np.array(CLASS_COLORS[int(label)])
        assert np.abs(image - color).max() <= 8
        seen += 1
    assert seen == 13


def test_bad_files_raise_or_skip(tmp_path):
    root = make_tree(tmp_path, ["a", "b"], ["cat", "dog"], 2)
    bad_text = write_bad(str(tmp_path / "a" / "cat" / "bad.jpg"), "text")
    bad_empty = write_bad(str(tmp_path / "b" / "dog" / "bad.png"), "empty")
    with pytest.raises(ValueError, match="Found 2 unreadable") as error:
        folder_source(root)
    assert bad_text in str(error.value) and bad_empty in str(error.value)

    source = folder_source(root, on_bad_image="skip")
    assert source.skipped_files == sorted([bad_text, bad_empty])
    assert source.labels == {"a": [0, 0, 1, 1], "b": [0, 0, 1, 1]}


def test_skipping_every_image_of_a_class(tmp_path):
    root = make_tree(tmp_path, ["a"], ["cat", "dog"], 1)
    os.remove(tmp_path / "a" / "dog" / "000.png")
    write_bad(str(tmp_path / "a" / "dog" / "000.png"), "empty")
    with pytest.raises(ValueError, match=r"\['dog'\] of domain 'a'"):
        folder_source(root, on_bad_image="skip")
