"""Fish, Fishr and IGA in the surgery table: names, defaults, arguments."""

import pytest
import tensorflow as tf

from keras_gs import surgery

# DomainBed's defaults (hparams_registry.py).
DEFAULTS = {
    "fish": {"meta_lr": 0.5},
    "fishr": {"lambda": 1000.0, "penalty_anneal_iters": 1500, "ema": 0.95},
    "iga": {"penalty": 1000.0},
}


def test_registered_beside_the_surgeries():
    assert surgery.names(step_method=True) == ["fish", "fishr", "iga"]
    assert set(surgery.names()) == set(surgery.names(step_method=False)) | set(
        DEFAULTS
    )
    # Tables list them after the surgeries.
    assert list(surgery.registered())[-3:] == ["fish", "fishr", "iga"]
    assert not set(surgery.names(streams=True)) & set(DEFAULTS)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_defaults_are_domainbeds_and_round_trip(name):
    method = surgery.get(name)
    assert isinstance(method, surgery.StepMethod) and method.step_method
    assert method.get_config() == DEFAULTS[name]
    restored = surgery.deserialize(surgery.serialize(method))
    assert type(restored) is type(method)
    assert restored.get_config() == method.get_config()


def test_options_by_the_names_users_type():
    fishr = surgery.get("fishr", **{"lambda": 100, "penalty_anneal_iters": 20})
    assert (fishr.penalty_weight, fishr.penalty_anneal_iters) == (100.0, 20)
    assert surgery.Fishr(lambda_=5.0).penalty_weight == 5.0
    assert repr(surgery.get("iga", penalty=10)) == "IGA(penalty=10.0)"
    assert surgery.get("fish", meta_lr=0.1).meta_lr == 0.1


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("fish", {"meta_lr": 0}, r"fish: `meta_lr` must be > 0.*meta_lr=0"),
        ("fish", {"meta_lr": -1}, r"`meta_lr` must be >= 0.0. Received: meta_lr=-1"),
        ("fishr", {"ema": 1.0}, r"`ema` must be >= 0.0 and < 1.0. Received: ema=1.0"),
        ("fishr", {"penalty_anneal_iters": 1.5}, "must be an integer"),
        ("fishr", {"lambda": -2}, r"`lambda` must be >= 0.0. Received: lambda=-2"),
        ("fishr", {"lambda": "big"}, r"Received: lambda='big'"),
        ("fishr", {"lambda": 1, "lambda_": 2}, "not both"),
        ("fishr", {"beta": 1}, r"Invalid arguments for surgery 'fishr'.*beta"),
        ("iga", {"penalty": -1}, r"`penalty` must be >= 0.0"),
        ("iga", {"lambda": 1}, r"Invalid arguments for surgery 'iga'"),
    ],
)
def test_bad_arguments_name_the_argument(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        surgery.get(name, **kwargs)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_calling_on_gradients_says_it_changes_the_step(name):
    grads = [[tf.constant([1.0])], [tf.constant([2.0])]]
    with pytest.raises(
        ValueError, match=rf"'{name}' is not a combination.*surgery='{name}'"
    ):
        surgery.get(name)(grads)
