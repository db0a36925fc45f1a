"""A model reused for a second target starts as a freshly built one.

`Experiment` keeps one model per surgery and trial and resets it between
targets (to skip tracing a new one); the run on the second target must be
the run a new model gives.
"""

import pytest

from keras_gs import experiment
from keras_gs.experiment import files

from run_checks import tiny_config


def history(workdir, targets):
    config = tiny_config(workdir, surgery=("agr-rand",), test_domains=targets)
    experiment.Experiment(config).run(progress=experiment.Progress(0, 20))
    paths = files.RunPaths.of(str(workdir), "rotated_digits", "agr-rand",
                              "0", 0)
    return files.read_json(paths.results)["history"]


def test_reused_model_equals_a_new_one(tmp_path):
    after_another_run = history(tmp_path / "reused", ("75", "0"))
    alone = history(tmp_path / "new", ("0",))
    for reused, new in zip(after_another_run, alone):
        assert reused["step"] == new["step"]
        for key in ("source_val_accuracy", "target_test_accuracy"):
            assert reused[key] == pytest.approx(new[key], abs=0.02)
        assert reused["train"]["loss"] == pytest.approx(
            new["train"]["loss"], rel=1e-4
        )
