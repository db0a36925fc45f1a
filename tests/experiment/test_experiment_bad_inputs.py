"""Bad input: one line naming the flag or value and the valid choices, a
non-zero exit, no traceback, and nothing trained or written.

Most cases call train.py's own `prepare` in this process (flags parsed by
absl from the same definitions); three run the real command, to check the
exit status and that no traceback reaches the user.
"""

import os
import sys

import pytest
from absl import flags

from keras_gs import experiment

from tool_helpers import TRAIN
from tool_helpers import load_train_tool
from tool_helpers import parse
from tool_helpers import run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from image_files import make_tree  # noqa: E402
from image_files import write_bad  # noqa: E402

TOOL = load_train_tool()


def prepare_fails(capsys, workdir, *args):
    """The one line `prepare` prints; checks it exits 2 and writes nothing."""
    with pytest.raises(SystemExit) as stopped:
        try:
            values = parse(
                TOOL, "--nodeterministic", f"--workdir={workdir}", *args
            )
        except flags.Error as error:
            # A bad enum value fails in the flags' own parsing, which the
            # tool reports as it reports the others (`cli.flags_parser`).
            TOOL.fail(error)
        TOOL.prepare(values, experiment)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("train.py: error: ")
    assert not os.path.exists(workdir)  # Stopped before any run started.
    return error


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--dataset=mnist"],
            "Unknown dataset. Received: dataset='mnist'. Valid: pacs, vlcs, "
            "office_home, domainnet, folder, rotated_digits",
        ),
        (
            ["--surgery=erm,agr-mean"],
            "Unknown surgery. Received: surgery='agr-mean'. Valid: ",
        ),
        (
            ["--backbone=vgg16"],
            "Unknown backbone. Received: backbone='vgg16'. Valid: ",
        ),
        (
            ["--selection=best"],
            "Unknown selection. Received: selection='best'. Valid: best_val, "
            "last, oracle",
        ),
        (
            ["--strategy=tpu"],
            "Unknown strategy. Received: strategy='tpu'. Valid: default, "
            "mirrored, multi_worker",
        ),
        (
            ["--test_domains=0,90"],
            "Unknown test domain. Received: test_domains='90'. Valid: all, 0, "
            "15, 30, 45, 60, 75",
        ),
        (
            ["--batch_size=0"],
            "`batch_size` must be a positive integer. Received: batch_size=0",
        ),
        (
            ["--steps=-20"],
            "`steps` must be a positive integer. Received: steps=-20",
        ),
        (["--dataset=folder"], "--dataset=folder needs `data_dir`"),
        (
            ["--check_images=some"],
            "Unknown check_images. Received: check_images='some'. Valid: "
            "header, full, none",
        ),
        (
            ["--image_size=big"],
            "--image_size takes integers. Received: image_size=big",
        ),
    ],
)
def test_one_line_errors(capsys, tmp_path, args, expected):
    error = prepare_fails(capsys, tmp_path / "runs", *args)
    assert expected in error
    assert error.count("\n") == 1, error


def test_missing_and_empty_data_dir(capsys, tmp_path):
    error = prepare_fails(
        capsys,
        tmp_path / "runs",
        "--dataset=folder",
        f"--data_dir={tmp_path / 'nowhere'}",
    )
    assert "Dataset directory not found. Received: data_dir=" in error
    (tmp_path / "empty").mkdir()
    error = prepare_fails(
        capsys,
        tmp_path / "runs",
        "--dataset=folder",
        f"--data_dir={tmp_path / 'empty'}",
    )
    assert "No domain folders in" in error


def test_unreadable_image_is_named_before_training(capsys, tmp_path):
    root = make_tree(tmp_path / "tree", ["a", "b"], ["cat", "dog"], 3)
    bad = write_bad(os.path.join(root, "b", "dog", "page.jpg"), "text")
    error = prepare_fails(
        capsys,
        tmp_path / "runs",
        "--dataset=folder",
        f"--data_dir={root}",
        "--image_size=8",
    )
    assert bad in error
    os.remove(bad)
    # Cut short after its header: only a full check decodes it.
    bad = write_bad(os.path.join(root, "a", "cat", "cut.jpg"), "truncated_jpeg")
    error = prepare_fails(
        capsys,
        tmp_path / "runs",
        "--dataset=folder",
        f"--data_dir={root}",
        "--image_size=8",
        "--check_images=full",
    )
    assert bad in error


def test_tf_config_that_does_not_parse(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{cluster: [")
    error = prepare_fails(capsys, tmp_path / "runs", "--strategy=multi_worker")
    assert "TF_CONFIG is not valid JSON" in error
    assert error.count("\n") == 1
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["h:1"]}}')
    error = prepare_fails(capsys, tmp_path / "runs", "--strategy=multi_worker")
    assert "TF_CONFIG has no `task`" in error
    monkeypatch.delenv("TF_CONFIG")
    error = prepare_fails(capsys, tmp_path / "runs", "--strategy=multi_worker")
    assert "reads TF_CONFIG, which is not set" in error


def test_commands_exit_with_one_line(tmp_path):
    # A missing flagfile fails at once, before TensorFlow loads.
    done = run(TRAIN, f"--flagfile={tmp_path / 'nope.flags'}")
    assert done.returncode == 2
    assert done.stderr.startswith("train.py: error: Unable to open flagfile")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    # An unknown surgery, after it has loaded.
    done = run(TRAIN, "--surgery=agr-sun", f"--workdir={tmp_path / 'runs'}")
    assert done.returncode == 2
    assert done.stderr == (
        "train.py: error: Unknown surgery. Received: surgery='agr-sun'. "
        f"Valid: {', '.join(experiment_surgeries())}\n"
    )
    # A dataset that is not prepared: its manual-download instructions.
    done = run(
        TRAIN,
        "--dataset=pacs",
        f"--data_dir={tmp_path / 'tfds'}",
        f"--workdir={tmp_path / 'runs'}",
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "train.py: error: Dataset 'pacs' is not prepared"
    )
    assert "kfold" in done.stderr and "Traceback" not in done.stderr
    assert not os.path.exists(tmp_path / "runs")


def experiment_surgeries():
    import keras_gs

    return keras_gs.surgery.names()
