"""`import keras_gs` leaves the experiment layer for its first use."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

PROBE = """
import sys
import keras_gs
print(sorted(
    m for m in sys.modules
    if m == "keras_gs.experiment" or m.startswith("keras_gs.experiment.")
    or m.startswith("tensorboard.plugins.hparams")
))
print(keras_gs.experiment.ExperimentConfig.__module__)
print("keras_gs.experiment.protocol" in sys.modules)
"""


def test_import_keras_gs_does_not_load_the_experiment_layer():
    # A fresh interpreter: this one has imported everything already.
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    # Nothing of the protocol nor its TensorBoard hparams plugin...
    assert lines[0] == "[]"
    # ...until `keras_gs.experiment` is used.
    assert lines[1:] == ["keras_gs.experiment.config", "True"]
