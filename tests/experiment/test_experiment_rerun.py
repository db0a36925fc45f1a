"""Running an experiment again over finished runs: reused or refused.

Each setting that changes a run's numbers, changed on its own, must make
the experiment refuse the work directory, naming the setting; a setting
that does not change the numbers must let the finished run be reused.
The settings are listed here by hand, not read from the code's list.
"""

import dataclasses
import os
import sys

import pytest

from keras_gs import experiment

from run_checks import quiet
from run_checks import tiny_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data"))
from image_files import make_tree  # noqa: E402

# Every result-changing setting, with another valid value. (`dataset`,
# `surgery`, the target and the trial name the run's directory itself.)
CHANGED = {
    "backbone": "resnet18",
    "weights": "other.weights.h5",
    "dropout": 0.5,
    # (`surgery_options`: only of a surgery the run trains, and erm has
    # none; test_experiment_flagfiles.py checks that they are recorded.)
    "steps": 30,
    "batch_size": 16,
    "lr": 0.01,
    "coupled_l2": 5e-5,
    "weight_decay": 1e-4,
    "eval_every": 5,
    "image_size": (24,),
    "test_on": "domain",
    "split_seed": 1,
    "seed": 1,
    "mixed_precision": True,
}
# Settings that leave a finished run's numbers alone.
UNCHANGED = {
    "checkpoint_every": 10,
    "backup_every": 10,
    "conflicts_every": 10,
    "selection": "oracle",
    "check_images": "full",
    "deterministic": True,
    "trials": 1,
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("rerun"), steps=10)
    experiment.Experiment(config).run(progress=quiet())
    return config


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_result_changing_setting_is_refused(
    finished, name, tmp_path, monkeypatch
):
    if name == "weights":
        # The file must exist: weights are checked before the data loads.
        monkeypatch.chdir(tmp_path)
        (tmp_path / CHANGED["weights"]).write_bytes(b"")
    changed = dataclasses.replace(finished, **{name: CHANGED[name]})
    with pytest.raises(ValueError, match=rf"other settings \(.*{name}="):
        experiment.Experiment(changed)


@pytest.mark.parametrize("name", sorted(UNCHANGED))
def test_other_settings_reuse_the_finished_run(finished, name):
    same = dataclasses.replace(finished, **{name: UNCHANGED[name]})
    runner = experiment.Experiment(same)
    assert runner.finished == runner.runs


def test_augmentation_is_result_changing(tmp_path):
    # The digits are grayscale, which the augmentation refuses: an RGB
    # folder tree instead.
    root = tmp_path / "tree"
    make_tree(root, ["d0", "d1", "d2"], ["c0", "c1"], per_class=5)
    config = tiny_config(
        tmp_path / "runs",
        dataset="folder",
        data_dir=str(root),
        test_domains=("d0",),
        image_size=(16,),
        steps=10,
    )
    experiment.Experiment(config).run(progress=quiet())
    changed = dataclasses.replace(config, augmentation="domainbed")
    with pytest.raises(ValueError, match=r"other settings \(augmentation="):
        experiment.Experiment(changed)
