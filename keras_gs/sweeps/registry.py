"""The hyper-parameter registry: what a sweep searches, and its draws.

In the manner of DomainBed's `hparams_registry.py` (Gulrajani and
Lopez-Paz, 2021): one place defines, per dataset and surgery, the
distribution of every searched setting. Configuration 0 of every search is
the flagfile's own setting; configuration i > 0 is a random draw,
reproducible from (dataset, surgery, i, trial) alone: each setting has its
own seed, so adding a setting to the registry never changes the draws of
the others.

Settings are named as `ExperimentConfig`'s fields (`lr`, `batch_size`,
`coupled_l2`, `dropout`) or, for a surgery's own options,
`<surgery>.<option>` (`and-mask.tau`), the form of `surgery_options`.
Distributions are Optuna's, so that the same registry drives random search
(`draw`) and Optuna's samplers (TPE).

To add a surgery's options, add an entry to `SURGERY_OPTIONS` under the
surgery's registered name, with one distribution per constructor argument.
A surgery without an entry is searched over the common settings only.
"""

import contextlib
import dataclasses
import hashlib
import math

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

# The settings every surgery's search has, as `ExperimentConfig` fields.
COMMON = ("lr", "batch_size", "coupled_l2", "dropout")
# `ExperimentConfig` fields searched for some surgeries only (`warmup`).
SCHEDULE = ("warmup_steps",)

# Datasets of small images, where DomainBed's registry (its SMALL_IMAGES:
# the MNIST variants) searches larger learning rates.
SMALL_IMAGES = ("rotated_digits",)

# Each surgery's own options (by its registered name), one distribution per
# constructor argument. Agr-Sum, Agr-Rand, PCGrad, MGDA and ERM have none.
# Fish, Fishr and IGA: DomainBed's `hparams_registry.py`.
SURGERY_OPTIONS = {
    # DomainBed's ANDMask: tau ~ U(0.5, 1).
    "and-mask": {"tau": FloatDistribution(0.5, 1.0)},
    # DomainBed's SANDMask: tau ~ U(0, 1), k ~ 10^U(-3, 5).
    "sand-mask": {
        "tau": FloatDistribution(0.0, 1.0),
        "k": FloatDistribution(1e-3, 1e5, log=True),
    },
    # CAGrad's c (Liu et al., 2021, searched over 0.1 ... 0.9).
    "cagrad": {"c": FloatDistribution(0.1, 0.9)},
    # GradVac's beta, the EMA rate of its target cosines (Wang et al., 2021:
    # 1e-2).
    "gradvac": {"beta": FloatDistribution(1e-3, 1e-1, log=True)},
    # DomainBed's Fish: meta_lr ~ choice(0.05, 0.1, 0.5).
    "fish": {"meta_lr": CategoricalDistribution((0.05, 0.1, 0.5))},
    # DomainBed's Fishr: lambda ~ 10^U(1, 4), penalty_anneal_iters ~
    # int(U(0, 5000)), ema ~ U(0.90, 0.99).
    "fishr": {
        "lambda": FloatDistribution(10.0, 1e4, log=True),
        "penalty_anneal_iters": IntDistribution(0, 5000),
        "ema": FloatDistribution(0.90, 0.99),
    },
    # DomainBed's IGA: penalty ~ 10^U(1, 5).
    "iga": {"penalty": FloatDistribution(10.0, 1e5, log=True)},
}


def common(dataset: str) -> dict:
    """The settings searched for every surgery on `dataset`.

    DomainBed's ranges, with two changes: the embedded digits search batch
    sizes of 8 to 64 per domain (DomainBed: 8 to 512 on its MNIST variants),
    so that a sweep fits a CPU; and the coupled L2 is searched on every
    dataset (DomainBed fixes it at 0 on small images).
    """
    if dataset in SMALL_IMAGES:
        lr = FloatDistribution(10**-4.5, 10**-2.5, log=True)
        batch_size = IntDistribution(8, 64, log=True)
    else:
        lr = FloatDistribution(1e-5, 10**-3.5, log=True)
        # 2^U(3, 5) on DomainNet, 2^U(3, 5.5) elsewhere.
        high = 32 if dataset == "domainnet" else 45
        batch_size = IntDistribution(8, high, log=True)
    return {
        "lr": lr,
        "batch_size": batch_size,
        # DomainBed's "weight_decay" is torch Adam's, i.e. a coupled L2.
        "coupled_l2": FloatDistribution(1e-6, 1e-2, log=True),
        "dropout": CategoricalDistribution((0.0, 0.1, 0.5)),
    }


def warmup(surgery: str, warmup_steps: int) -> dict:
    """The warm-up's search (`warmup_steps`, Deep-All's gradient for the
    first steps), searched where the flagfile asks for a warm-up.

    As DomainBed searches the steps before IRM's, VREx's and Fishr's
    penalties start (`penalty_anneal_iters`), but around the flagfile's
    value W > 0: an integer uniform in [0, 2W]; nothing when W = 0 (so a
    sweep without a warm-up draws what it drew before this setting
    existed), for ERM (no surgery to start) and for Fish, Fishr and IGA
    (Fishr's warm-up is its own `penalty_anneal_iters`).
    """
    from keras_gs import surgery as surgery_lib

    if not warmup_steps or surgery not in surgery_lib.names():
        return {}
    rule = surgery_lib.get(surgery)
    if rule.step_method or rule.joint_batch:
        return {}
    return {"warmup_steps": IntDistribution(0, 2 * int(warmup_steps))}


def space(dataset: str, surgery: str, warmup_steps: int = 0) -> dict:
    """Every searched setting of `surgery` on `dataset`, in draw order.

    Args:
        dataset: str, a name from `keras_gs.data.DATASETS`.
        surgery: str, a name from `keras_gs.surgery.names()`.
        warmup_steps: int, the flagfile's `warmup_steps`: the warm-up is
            searched when it is > 0 (see `warmup`). Defaults to `0`.

    Returns:
        dict `name -> optuna distribution`: the common settings, the
        warm-up (see `warmup`), then the surgery's options as
        `<surgery>.<option>`.

    Example:

    >>> sorted(space("rotated_digits", "and-mask"))
    ['and-mask.tau', 'batch_size', 'coupled_l2', 'dropout', 'lr']
    """
    check_names(dataset, surgery)
    options = SURGERY_OPTIONS.get(canonical(surgery), {})
    return {
        **common(dataset),
        **warmup(surgery, warmup_steps),
        **{f"{surgery}.{name}": d for name, d in options.items()},
    }


def defaults(config, surgery: str) -> dict:
    """Configuration 0: the settings `config` (the flagfile) gives.

    A surgery option the flagfile does not set is left out (the surgery's
    own default applies), as is nothing else: `configure(config, surgery,
    defaults(config, surgery))` is `config`.
    """
    return {
        "lr": config.lr,
        "batch_size": config.batch_size,
        "coupled_l2": config.coupled_l2,
        "dropout": config.dropout,
        **(
            {"warmup_steps": config.warmup_steps}
            if warmup(surgery, config.warmup_steps)
            else {}
        ),
        **{
            f"{surgery}.{name}": value
            for name, value in config.surgery_kwargs(surgery).items()
        },
    }


def draw(config, surgery: str, index: int, trial: int) -> dict:
    """The settings of configuration `index` of `surgery`'s search.

    Args:
        config: the flagfile's `ExperimentConfig` (its dataset, and
            configuration 0).
        surgery: str, the surgery's name.
        index: int, the configuration's index; 0 is the flagfile's.
        trial: int, the trial.

    Returns:
        dict `name -> value`, as `space` names them.

    Example:

    >>> config = keras_gs.experiment.ExperimentConfig()
    >>> draw(config, "erm", 3, 0) == draw(config, "erm", 3, 0)
    True
    """
    if index == 0:
        check_names(config.dataset, surgery)
        return defaults(config, surgery)
    return {
        name: _sample(
            distribution,
            derive_seed("hparams", config.dataset, surgery, index, trial, name),
        )
        for name, distribution in space(
            config.dataset, surgery, config.warmup_steps
        ).items()
    }


def configure(config, surgery: str, hparams: dict):
    """`config` with the settings `hparams` for a run of `surgery`.

    Args:
        config: an `ExperimentConfig`.
        surgery: str, the surgery whose options `hparams` may set.
        hparams: dict from `draw` (or `defaults`).

    Returns:
        A new `ExperimentConfig`.
    """
    fields = {k: hparams[k] for k in COMMON + SCHEDULE if k in hparams}
    prefix = f"{surgery}."
    options = {
        k[len(prefix) :]: v for k, v in hparams.items() if k.startswith(prefix)
    }
    if options != config.surgery_kwargs(surgery):
        # The other surgeries' options stay here (`SweepConfig.
        # experiment_config` keeps the job's surgery's only).
        fields["surgery_options"] = tuple(
            e for e in config.surgery_options if not e.startswith(prefix)
        ) + tuple(f"{prefix}{k}={v!r}" for k, v in options.items())
    return dataclasses.replace(config, **fields)


def contains(distribution, value) -> bool:
    """Whether `value` is one of `distribution`'s values."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if value is None or isinstance(value, bool):
        return False
    return distribution.low <= value <= distribution.high


def canonical(surgery: str) -> str:
    """The registered name of `surgery` (its class's first name)."""
    from keras_gs import surgery as surgery_lib

    cls = surgery_lib.registered().get(surgery.strip().lower())
    return cls.name if cls is not None else surgery


def check_names(dataset: str, surgery: str):
    """Raises the usual ValueError on an unknown dataset or surgery."""
    # Imported here: the registries import TensorFlow.
    from keras_gs import data
    from keras_gs import surgery as surgery_lib

    for name, value, valid in (
        ("dataset", dataset, data.DATASETS),
        ("surgery", surgery, surgery_lib.names()),
    ):
        if value not in valid:
            raise ValueError(
                f"Unknown {name}. Received: {name}={value!r}. Valid: "
                f"{', '.join(valid)}"
            )


def markdown(datasets=("rotated_digits", "pacs", "domainnet")) -> str:
    """The registry as a Markdown table (the README shows it)."""
    names = list(common(datasets[0]))
    for surgery, options in SURGERY_OPTIONS.items():
        names += [f"{surgery}.{option}" for option in options]
    lines = [
        "| setting | " + " | ".join(datasets) + " |",
        "|:--|" + ":--|" * len(datasets),
    ]
    for name in names:
        cells = []
        for dataset in datasets:
            surgery, dot, option = name.partition(".")
            if dot:
                distribution = SURGERY_OPTIONS[surgery][option]
            else:
                distribution = common(dataset)[name]
            cells.append(describe(distribution))
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
        if name == names[len(common(datasets[0])) - 1]:
            # After the common settings: the warm-up, the same everywhere.
            lines.append(
                "| `warmup_steps` | "
                + " | ".join(
                    ["integer in [0, 2W] where the flagfile sets W > 0"]
                    * len(datasets)
                )
                + " |"
            )
    return "\n".join(lines)


def describe(distribution) -> str:
    """A distribution in words: `10^U(-4.5, -2.5)`, `U(0.5, 1)`, ..."""
    if isinstance(distribution, CategoricalDistribution):
        return "one of " + ", ".join(f"{c:g}" for c in distribution.choices)
    low, high = distribution.low, distribution.high
    if isinstance(distribution, IntDistribution):
        kind = "log-uniform" if distribution.log else "uniform"
        return f"{kind} integer in [{low}, {high}]"
    if distribution.log:
        return f"10^U({math.log10(low):.3g}, {math.log10(high):.3g})"
    return f"U({low:g}, {high:g})"


def _sample(distribution, seed):
    """One value from Optuna's random sampler, seeded."""
    with _quiet_optuna():
        study = optuna.create_study(
            sampler=optuna.samplers.RandomSampler(seed=seed)
        )
    return study.ask({"x": distribution}).params["x"]


@contextlib.contextmanager
def _quiet_optuna():
    """Without Optuna's INFO line for every study created in memory."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def derive_seed(*parts) -> int:
    """A seed in [0, 2**31) from printable parts, the same in any process
    (a hash, not Python's `hash`, which changes between processes)."""
    text = "/".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") >> 1
