"""configs/*.flags and train.py's flags resolve to the intended configs."""

import dataclasses
from pathlib import Path

import pytest

from keras_gs import experiment

from tool_helpers import ROOT
from tool_helpers import load_train_tool
from tool_helpers import parse

TOOL = load_train_tool()
CONFIGS = Path(ROOT) / "configs"
PAPER_DATASETS = ("pacs", "vlcs", "office_home", "domainnet")


def config_of(*args):
    return TOOL.config_from_flags(parse(TOOL, *args), experiment)


def test_no_flags_is_the_main_job_and_its_flagfile():
    default = config_of()
    assert default == experiment.ExperimentConfig()
    assert config_of(f"--flagfile={CONFIGS / 'rotated_digits.flags'}") == (
        default
    )
    assert default.surgery == ("erm", "agr-sum", "agr-rand", "pcgrad")
    assert (default.dataset, default.backbone, default.test_domains) == (
        "rotated_digits",
        "small_cnn",
        "all",
    )
    assert (default.steps, default.batch_size, default.lr) == (600, 32, 1e-3)
    assert default.deterministic and default.selection == "best_val"


def test_all_surgeries_flagfile_is_the_main_job_with_every_rule():
    import keras_gs

    config = config_of(f"--flagfile={CONFIGS / 'rotated_digits_all.flags'}")
    # Every registered surgery once, by its own name (aliases left out),
    # in the registry's order: ERM first.
    rules = [cls.name for cls in dict.fromkeys(
        keras_gs.surgery.registered().values()
    )]
    assert config.surgery == tuple(rules) and rules[0] == "erm"
    assert len(rules) == 21 and config.surgery_options == ()
    main = config_of()
    differ = {
        f.name
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(main, f.name)
    }
    assert differ == {"surgery", "checkpoint_every"}
    config.validate()


def test_surgery_options_reach_the_new_rules():
    config = config_of(
        "--surgery=cagrad,pcgrad,gradvac",
        "--surgery_options=cagrad.c=0.4,cagrad.rescale=1,"
        "pcgrad.order=per_domain,gradvac.group=layer",
    )
    config.validate()
    import keras_gs

    built = {
        name: keras_gs.surgery.get(name, **config.surgery_kwargs(name))
        for name in config.surgery
    }
    assert built["cagrad"].get_config() == {"c": 0.4, "rescale": 1}
    assert built["pcgrad"].order == "per_domain"
    assert built["gradvac"].group == "layer"


@pytest.mark.parametrize("dataset", PAPER_DATASETS)
def test_paper_flagfiles(dataset):
    config = config_of(f"--flagfile={CONFIGS / (dataset + '.flags')}")
    assert config == experiment.ExperimentConfig.paper(
        dataset, image_size=(227, 224)
    )
    assert (config.backbone, config.weights) == ("alexnet", "imagenet")
    assert (config.batch_size, config.lr, config.coupled_l2) == (
        128,
        1e-5,
        5e-5,
    )
    assert (config.steps, config.eval_every, config.trials) == (1000, 20, 20)
    assert config.selection == "best_val"


def test_command_line_overrides_the_flagfile():
    config = config_of(
        f"--flagfile={CONFIGS / 'pacs.flags'}",
        "--steps=40",
        "--surgery=agr-sum",
        "--test_domains=sketch,photo",
        "--weights=",
    )
    assert config.steps == 40 and config.surgery == ("agr-sum",)
    assert config.test_domains == ("sketch", "photo")
    assert config.weights is None and config.dataset == "pacs"


def test_every_flagfile_is_commented_in_sections():
    for path in CONFIGS.glob("*.flags"):
        lines = path.read_text().splitlines()
        sections = [line for line in lines if line.startswith("# ---")]
        assert len(sections) >= 4, path
        for i, line in enumerate(lines):
            if line.startswith("--"):
                assert any(
                    lines[j].startswith("#") for j in range(max(0, i - 3), i)
                ) or lines[i - 1].startswith("--"), (path, line)


def test_resolved_flags_repeat_the_config():
    config = experiment.ExperimentConfig(
        surgery=("pcgrad",),
        test_domains=("30",),
        image_size=(32,),
        weights=None,
        steps=40,
        coupled_l2=5e-5,
    )
    path = Path(TOOL.__file__).parent  # any existing dir for tmp files
    del path
    values = parse(TOOL, *config.to_flags().split())
    assert TOOL.config_from_flags(values, experiment) == config


def test_config_fields_are_the_flags():
    flag_names = set(parse(TOOL)._flags())
    fields = {f.name for f in dataclasses.fields(experiment.ExperimentConfig)}
    assert fields <= flag_names


def test_surgery_options_and_dropout_flags():
    config = config_of(
        "--surgery=and-mask,erm,sand-mask",
        "--surgery_options=and-mask.tau=0.75,sand-mask.k=5",
        "--dropout=0.1",
    )
    assert config.surgery_kwargs("and-mask") == {"tau": 0.75}
    assert config.surgery_kwargs("sand-mask") == {"k": 5}
    assert config.surgery_kwargs("erm") == {}
    assert config.dropout == 0.1
    config.validate()
    # Replayed from the resolved flags.
    assert TOOL.config_from_flags(parse(TOOL, *config.to_flags().split()),
                                  experiment) == config


@pytest.mark.parametrize(
    "options, message",
    [
        (("and-mask.tau=2",), r"and-mask.*tau=2"),
        (("and-mask",), r"<surgery>.<option>=<value>.*'and-mask'"),
        (("nope.tau=1",), r"Unknown surgery.*'nope'"),
        (("and-mask.bogus=1",), r"and-mask.*bogus"),
    ],
)
def test_bad_surgery_options(options, message):
    config = experiment.ExperimentConfig(
        surgery=("and-mask",), surgery_options=options
    )
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_bad_dropout():
    with pytest.raises(ValueError, match=r"dropout=1.5"):
        experiment.ExperimentConfig(dropout=1.5).validate()


def test_domain_names_with_commas_replay_from_the_run_flags(tmp_path):
    config = experiment.ExperimentConfig(test_domains=("a,b", 'c"d', "e"))
    path = tmp_path / "flags.txt"
    path.write_text(config.to_flags())
    assert config_of(f"--flagfile={path}") == config
