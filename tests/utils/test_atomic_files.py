"""`keras_gs.utils.atomic_files`: whole files or none, with normal permissions."""

import json
import os
import stat

import keras
import pytest

from keras_gs.utils import atomic_files


def test_write_json_is_strict_json(tmp_path):
    path = str(tmp_path / "x.json")
    atomic_files.write_json(path, {"loss": float("nan"), "ok": [1.5]})
    with open(path) as f:
        assert json.loads(f.read(), parse_constant=pytest.fail) == {
            "loss": None,
            "ok": [1.5],
        }


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "results.json")
    atomic_files.write_json(path, {"old": 1})
    with pytest.raises(RuntimeError):
        with atomic_files.atomic_path(path) as temporary:
            with open(temporary, "w") as f:
                f.write("{half")
            raise RuntimeError("killed")
    assert atomic_files.read_json(path) == {"old": 1}
    assert os.listdir(tmp_path) == ["results.json"]


def test_files_get_the_permissions_of_a_plain_open(tmp_path):
    # mkstemp makes owner-only files; a results file must stay readable by
    # the group as any file the user writes.
    old = os.umask(0o022)
    try:
        atomic_files.write_text(tmp_path / "a.md", "x")
        with open(tmp_path / "b.md", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "a.md").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.md").st_mode) == 0o644


def test_weights_keep_their_suffix_for_keras(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.weights.h5"
    with atomic_files.atomic_path(path) as temporary:
        assert temporary.endswith(".weights.h5")
        model.save_weights(temporary)
    model.load_weights(path)
    assert os.listdir(tmp_path) == ["best.weights.h5"]
