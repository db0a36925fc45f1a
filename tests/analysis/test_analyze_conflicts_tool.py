"""tools/analyze_conflicts.py end to end on a tiny run directory."""

import csv
import os
import subprocess
import sys

import keras

from keras_gs import backbones
from keras_gs.analysis import analyze
from keras_gs.analysis import measures
from keras_gs.experiment import files
from keras_gs.experiment.config import ExperimentConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TOOL = os.path.join(ROOT, "tools", "analyze_conflicts.py")


def make_run(workdir):
    """A run in the RunPaths layout: config.json and two step checkpoints
    of the small CNN on the embedded digits (random weights)."""
    paths = files.RunPaths.of(workdir, "rotated_digits", "erm", "0", 0)
    config = ExperimentConfig(
        surgery=("erm",), test_domains=("0",), workdir=workdir
    )
    os.makedirs(paths.checkpoints)
    files.write_json(paths.config, {**config.to_dict(), "trial": 0})
    for step, seed in ((20, 1), (40, 2)):
        keras.utils.set_random_seed(seed)
        network = backbones.get("small_cnn", (28, 28, 1), 10)
        network.save_weights(paths.step_weights(step))
    return paths


def tool(*args):
    return subprocess.run(
        [sys.executable, TOOL, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_writes_the_csv_and_plots_of_every_checkpoint(tmp_path):
    paths = make_run(str(tmp_path))
    result = tool(f"--run={paths.root}", "--batch_size=2", "--classes=3,7")
    assert result.returncode == 0, result.stderr
    out = os.path.join(paths.root, "conflicts")
    assert sorted(os.listdir(out)) == [
        "agreement.png",
        "conflicts.csv",
        "cosine.png",
    ]
    for name in ("agreement.png", "cosine.png"):
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "conflicts.csv")) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(analyze.COLUMNS)
    layers = ["conv1", "conv2", "fc1", "logits", "all"]
    # 2 checkpoints x (classes 3, 7, their mean, all classes) x 5 layers.
    assert len(rows) == 2 * 4 * 5
    assert {r["checkpoint"] for r in rows} == {"step_20", "step_40"}
    assert {r["class"] for r in rows} == {"3", "7", "mean", "all"}
    assert [r["layer"] for r in rows[:5]] == layers
    for row in rows:
        for name in measures.MEASURES:
            value = float(row[name])
            assert -1.0 - 1e-5 <= value <= 1.0 + 1e-5, row
    assert "Per-example gradients by tf.vectorized_map" in result.stdout
    assert "whole network, step 20 -> step 40" in result.stdout


def test_bad_input_is_one_line_without_a_traceback(tmp_path):
    missing = str(tmp_path / "no_such_run")
    result = tool(f"--run={missing}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"analyze_conflicts.py: error: no run directory at {missing}"
    )
    paths = make_run(str(tmp_path))
    result = tool(f"--run={paths.root}", "--checkpoints=step_20,step_30")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "checkpoints='step_30'. Valid: step_20, step_40" in lines[0]
    assert paths.checkpoints in lines[0]
    assert not os.path.exists(os.path.join(paths.root, "conflicts"))
