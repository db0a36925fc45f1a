"""tools/sweep.py's one-line errors and where its storage is (issue 31,
items 10, 12 and 15), run in this process: the sweep is created in its
storage, nothing is trained."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_sweep_tool import prepare
from test_sweep_tool import sweep_args
from test_sweep_tool import tool  # noqa: F401 (a fixture)


def one_line_exit(capsys, call, *args):
    """The error line `call(*args)` exits 2 with."""
    with pytest.raises(SystemExit) as exit_:
        call(*args)
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("sweep.py: error: "), line
    return line[len("sweep.py: error: ") :]


@pytest.fixture(scope="module")
def created(tool, tmp_path_factory):  # noqa: F811
    """A sweep created in its work directory (no job run)."""
    workdir = tmp_path_factory.mktemp("created") / "digits"
    sweep = prepare(tool, *sweep_args(workdir, "erm"))
    sweep.storage.engine.dispose()  # Its log written into sweep.db.
    return workdir


def test_a_damaged_sweep_db_says_how_to_rebuild_it(
    tool, created, tmp_path, capsys  # noqa: F811
):
    workdir = tmp_path / "digits"
    workdir.mkdir()
    data = bytearray((created / "sweep.db").read_bytes())
    # Every page but the first (the header and the schema) overwritten.
    data[4096:] = os.urandom(len(data) - 4096)
    (workdir / "sweep.db").write_bytes(bytes(data))
    (workdir / "sweep.json").write_bytes((created / "sweep.json").read_bytes())
    message = one_line_exit(
        capsys, prepare, tool, *sweep_args(workdir, "erm")
    )
    assert message == (
        f"The sweep's storage {workdir / 'sweep.db'} is damaged (database "
        "disk image is malformed). Delete it: the next command rebuilds the "
        "sweep from the runs in the work directory."
    )


def test_a_work_directory_that_cannot_be_written_is_one_line(
    tool, tmp_path, capsys, monkeypatch  # noqa: F811
):
    workdir = tmp_path / "digits"
    sweep_json = str(workdir / "sweep.json")

    def read_only(path, *args, **kwargs):
        # What a work directory made read-only answers (the tests run as
        # root, whom chmod does not stop); train.py's checks come first
        # and pass.
        raise PermissionError(13, "Permission denied", path)

    prepare_module = importlib.import_module("keras_gs.sweeps.prepare")
    monkeypatch.setattr(prepare_module, "write_json", read_only)
    message = one_line_exit(capsys, prepare, tool, *sweep_args(workdir, "erm"))
    assert message == f"[Errno 13] Permission denied: '{sweep_json}'"


def test_a_relative_sqlite_path_is_in_the_work_directory(
    tool, tmp_path, monkeypatch  # noqa: F811
):
    workdir = tmp_path / "digits"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    sweep = prepare(
        tool, *sweep_args(workdir, "erm", storage="sqlite:///relative.db")
    )
    sweep.storage.engine.dispose()
    assert (workdir / "relative.db").exists()
    assert os.listdir(elsewhere) == []


def copy_of(created, tmp_path, name="digits", definition=None):
    """A work directory holding `created`'s sweep.json (its definition
    changed by `definition`), under `name`."""
    workdir = tmp_path / name
    workdir.mkdir()
    sweep = json.loads((created / "sweep.json").read_text())
    if definition:
        sweep["definition"] = definition(sweep["definition"])
    (workdir / "sweep.json").write_text(json.dumps(sweep))
    return workdir


def test_adding_a_surgery_is_refused_in_one_short_line(
    tool, created, tmp_path, capsys  # noqa: F811
):
    workdir = copy_of(created, tmp_path)
    message = one_line_exit(
        capsys, prepare, tool, *sweep_args(workdir, "erm,agr-sum")
    )
    assert message == (
        "The work directory holds another sweep. Received: "
        f"workdir={str(workdir)!r} (surgery=['erm'] there, ['erm', "
        "'agr-sum'] now). Use another workdir, or the same settings."
    )


def test_a_renamed_work_directory_names_sweep_name(
    tool, created, tmp_path, capsys  # noqa: F811
):
    workdir = copy_of(created, tmp_path, name="renamed")
    message = one_line_exit(capsys, prepare, tool, *sweep_args(workdir, "erm"))
    assert message == (
        "The work directory holds the sweep 'digits', not 'renamed' (was it "
        f"renamed?). Received: workdir={str(workdir)!r}. Give "
        "--sweep_name=digits to go on with it."
    )


def test_deterministic_is_part_of_a_sweep(
    tool, created, tmp_path, capsys  # noqa: F811
):
    workdir = copy_of(created, tmp_path)
    message = one_line_exit(
        capsys,
        prepare,
        tool,
        *sweep_args(workdir, "erm"),
        "--nodeterministic",
    )
    assert "(deterministic=True there, False now)" in message


def test_a_sweep_recorded_before_deterministic_was_part_of_it_goes_on(
    tool, created, tmp_path  # noqa: F811
):
    def older(definition):
        definition.pop("deterministic")
        return definition

    workdir = copy_of(created, tmp_path, definition=older)
    sweep = prepare(tool, *sweep_args(workdir, "erm"))
    sweep.storage.engine.dispose()
    assert sweep.definition["deterministic"] is True


def test_a_sweep_recorded_before_the_regime_settings_goes_on(
    tool, created, tmp_path, capsys  # noqa: F811
):
    # Sweeps recorded before warmup_steps, pretrain_steps and pretrain_lr
    # were result settings ran at their defaults: the same sweep.
    def older(definition):
        for key in ("warmup_steps", "pretrain_steps", "pretrain_lr"):
            definition["settings"].pop(key)
        return definition

    workdir = copy_of(created, tmp_path, definition=older)
    sweep = prepare(tool, *sweep_args(workdir, "erm"))
    sweep.storage.engine.dispose()
    # But not with a setting of the regime at another value.
    (tmp_path / "second").mkdir()
    workdir = copy_of(created, tmp_path / "second", definition=older)
    message = one_line_exit(
        capsys, prepare, tool, *sweep_args(workdir, "erm"), "--pretrain_steps=5"
    )
    assert "pretrain_steps=None there, 5 now" in message


def test_collect_results_on_a_sweep_says_where_its_tables_are(created):
    tool_path = Path(__file__).resolve().parents[2] / "tools"
    done = subprocess.run(
        [sys.executable, str(tool_path / "collect_results.py"), str(created)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"collect_results.py: error: {created} is a sweep's work directory: "
        f"tools/sweep.py writes its tables to {created / 'sweep.md'} (and "
        "--status prints them so far); for one configuration's runs, give "
        f"{created / 'hparams_<i>'}."
    ]
