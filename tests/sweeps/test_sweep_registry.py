"""The hyper-parameter registry: configuration 0, draws, distributions."""

import dataclasses
import inspect
import os

import pytest
from absl import flags
from optuna.distributions import FloatDistribution

import keras_gs
from keras_gs.experiment import ExperimentConfig
from keras_gs.sweeps import registry

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def flagfile_config(name, *extra):
    """The ExperimentConfig tools/train.py makes of configs/<name>.flags."""
    from sweep_helpers import load_sweep_tool

    tool = load_sweep_tool()
    values = flags.FlagValues()
    tool.define_flags(values)
    values(["sweep.py", f"--flagfile={ROOT}/configs/{name}.flags", *extra])
    experiment = tool.import_quietly()[1]
    return tool.experiment_from_flags(values, experiment)


@pytest.mark.parametrize(
    "name, surgery",
    [("pacs", "agr-sum"), ("rotated_digits_sweep", "erm")],
)
def test_configuration_0_is_the_flagfile(name, surgery):
    config = flagfile_config(name)
    hparams = registry.draw(config, surgery, 0, trial=2)
    assert hparams == {
        "lr": config.lr,
        "batch_size": config.batch_size,
        "coupled_l2": config.coupled_l2,
        "dropout": config.dropout,
    }
    assert registry.configure(config, surgery, hparams) == config


def test_configuration_0_keeps_the_flagfiles_surgery_options():
    config = ExperimentConfig(
        surgery=("and-mask", "sand-mask"),
        surgery_options=("and-mask.tau=0.8", "sand-mask.k=5"),
    )
    hparams = registry.draw(config, "and-mask", 0, 0)
    assert hparams["and-mask.tau"] == 0.8
    assert registry.configure(config, "and-mask", hparams) == config
    # A drawn tau replaces the flagfile's; the other surgery's options stay.
    drawn = registry.draw(config, "and-mask", 1, 0)
    options = registry.configure(config, "and-mask", drawn).surgery_options
    assert options[0] == "sand-mask.k=5"
    assert options[1] == f"and-mask.tau={drawn['and-mask.tau']!r}"
    rebuilt = registry.configure(config, "and-mask", drawn)
    assert rebuilt.surgery_kwargs("and-mask") == {"tau": drawn["and-mask.tau"]}


def test_draws_are_reproducible_and_differ_by_each_part():
    config = ExperimentConfig()
    first = registry.draw(config, "and-mask", 3, 1)
    assert registry.draw(config, "and-mask", 3, 1) == first
    for other in (
        registry.draw(config, "and-mask", 4, 1),  # index
        registry.draw(config, "and-mask", 3, 2),  # trial
        registry.draw(
            dataclasses.replace(config, dataset="pacs"), "and-mask", 3, 1
        ),
    ):
        assert other["lr"] != first["lr"]


def test_a_new_setting_leaves_the_other_draws_alone(monkeypatch):
    # Each setting has its own seed (DomainBed's way).
    config = ExperimentConfig()
    before = registry.draw(config, "agr-sum", 3, 1)
    monkeypatch.setitem(
        registry.SURGERY_OPTIONS, "agr-sum", {"x": FloatDistribution(0.0, 1.0)}
    )
    after = registry.draw(config, "agr-sum", 3, 1)
    assert list(after) == list(before) + ["agr-sum.x"]
    assert {k: after[k] for k in before} == before


@pytest.mark.parametrize("dataset", ["rotated_digits", "pacs", "domainnet"])
@pytest.mark.parametrize(
    "surgery", ["erm", "agr-rand", "and-mask", "sand-mask"]
)
def test_every_draw_lies_in_its_distribution(dataset, surgery):
    config = ExperimentConfig(dataset=dataset, surgery=(surgery,))
    space = registry.space(dataset, surgery)
    for index in range(1, 21):
        hparams = registry.draw(config, surgery, index, index % 3)
        assert hparams.keys() == space.keys()
        for name, value in hparams.items():
            assert registry.contains(space[name], value), (name, value)
            assert type(value) is type(_kind(space[name])), (name, value)
        # Every draw makes a valid experiment.
        registry.configure(config, surgery, hparams).validate()


def _kind(distribution):
    if hasattr(distribution, "choices"):
        return distribution.choices[0]
    return distribution.low


def test_dataset_budgets_differ():
    digits = registry.space("rotated_digits", "erm")
    pacs = registry.space("pacs", "erm")
    assert digits["lr"].low == pytest.approx(10**-4.5)
    assert pacs["lr"].low == pytest.approx(1e-5)
    assert (digits["batch_size"].high, pacs["batch_size"].high) == (64, 45)
    assert registry.space("domainnet", "erm")["batch_size"].high == 32


def test_surgeries_without_options_get_the_common_settings_only():
    for surgery in ("erm", "deep-all", "agr-sum", "agr-rand", "pcgrad", "mean"):
        assert list(registry.space("rotated_digits", surgery)) == list(
            registry.COMMON
        )
    assert list(registry.space("pacs", "sand-mask"))[-2:] == [
        "sand-mask.tau",
        "sand-mask.k",
    ]


def test_options_are_constructor_arguments_of_registered_surgeries():
    # Entries for surgeries not registered yet (e.g. cagrad) are checked
    # once they are.
    classes = keras_gs.surgery.registered()
    for surgery, options in registry.SURGERY_OPTIONS.items():
        if surgery not in classes:
            continue
        parameters = inspect.signature(classes[surgery]).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            assert set(options) <= set(parameters), surgery
        # Each option reaches the constructor under the name a sweep uses
        # (Fishr's `lambda`, a Python keyword, through **kwargs).
        for name, distribution in options.items():
            value = (
                distribution.choices[0]
                if hasattr(distribution, "choices")
                else distribution.low
            )
            built = keras_gs.surgery.get(surgery, **{name: value})
            assert built.get_config()[name] == value, (surgery, name)


@pytest.mark.parametrize(
    "dataset, surgery, message",
    [
        (
            "rotated_digits",
            "agr-max",
            "Unknown surgery. Received: surgery='agr-max'. Valid: ",
        ),
        (
            "mnist",
            "erm",
            "Unknown dataset. Received: dataset='mnist'. Valid: pacs, ",
        ),
    ],
)
def test_unknown_names(dataset, surgery, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        registry.space(dataset, surgery)
    with pytest.raises(ValueError, match="Unknown"):
        registry.draw(ExperimentConfig(dataset=dataset), surgery, 0, 0)


def test_docs_show_the_registry():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert registry.markdown() in f.read()


def test_warmup_is_searched_only_where_the_flagfile_warms_up():
    # A flagfile without a warm-up draws exactly what it drew before.
    plain = ExperimentConfig()
    assert "warmup_steps" not in registry.space("rotated_digits", "agr-sum")
    assert "warmup_steps" not in registry.draw(plain, "agr-sum", 3, 0)
    # With W = 50: an integer in [0, 100] for the surgeries, none for ERM
    # or Fishr (its own penalty_anneal_iters), and configuration 0 is W.
    warm = ExperimentConfig(warmup_steps=50)
    space = registry.space("rotated_digits", "agr-sum", warm.warmup_steps)
    assert (space["warmup_steps"].low, space["warmup_steps"].high) == (0, 100)
    for surgery in ("erm", "fishr"):
        assert "warmup_steps" not in registry.space(
            "rotated_digits", surgery, 50
        )
    assert registry.draw(warm, "agr-sum", 0, 0)["warmup_steps"] == 50
    draws = [registry.draw(warm, "pcgrad", i, 0) for i in range(1, 11)]
    assert len({d["warmup_steps"] for d in draws}) > 1
    for hparams in draws:
        assert 0 <= hparams["warmup_steps"] <= 100
        # The other settings draw what they draw without a warm-up.
        assert {k: v for k, v in hparams.items() if k != "warmup_steps"} == (
            registry.draw(plain, "pcgrad", draws.index(hparams) + 1, 0)
        )
        configured = registry.configure(warm, "pcgrad", hparams)
        assert configured.warmup_steps == hparams["warmup_steps"]
