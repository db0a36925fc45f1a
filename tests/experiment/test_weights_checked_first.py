"""The initial weights are checked before the data is prepared, and
`--weights=None` is None (issue 31, item 14)."""

import pytest

from keras_gs import experiment
from keras_gs.backbones import weights as weights_lib


@pytest.mark.parametrize("given", ["None", "none", "NONE"])
def test_weights_none_as_a_command_line_gives_it(given):
    config = experiment.ExperimentConfig(weights=given)
    assert config.weights is None
    assert config.validate().weights is None


def test_missing_imagenet_weights_stop_before_the_data_is_loaded(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(weights_lib.CACHE_ENV, str(tmp_path / "empty_cache"))

    def load(self, test_domain):
        raise AssertionError("the data was loaded (prepared) first")

    monkeypatch.setattr(experiment.Experiment, "_load", load)
    config = experiment.ExperimentConfig(
        dataset="office_home",
        backbone="resnet18",
        weights="imagenet",
        workdir=str(tmp_path / "runs"),
    )
    with pytest.raises(FileNotFoundError) as error:
        experiment.Experiment(config)
    message = str(error.value)
    assert message.startswith(
        f"No ImageNet weights for 'resnet18' at {tmp_path / 'empty_cache'}"
    )
    assert "port" in message and "\n" not in message
