"""`ExperimentConfig`: every setting of the leave-one-domain-out protocol."""

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
from typing import ClassVar

from keras_gs import data
from keras_gs.data import augment
from keras_gs.data import image_check
from keras_gs.experiment import selection as selection_lib
from keras_gs.experiment import surgery_options as surgery_options_lib
from keras_gs.experiment.strategy import STRATEGIES
from keras_gs.utils.choices import check_choice

ALL = "all"

# Settings that change what a run computes. A finished run in the work
# directory is reused only if these match (the others, such as which
# surgeries or targets to run, where the data lies or how often to write a
# checkpoint, do not change a run's numbers).
RESULT_FIELDS = (
    "dataset",
    "backbone",
    "weights",
    "dropout",
    "surgery_options",
    "steps",
    "batch_size",
    "lr",
    "coupled_l2",
    "weight_decay",
    "eval_every",
    "augmentation",
    "on_bad_image",
    "image_size",
    "test_on",
    "split_seed",
    "seed",
    "mixed_precision",
    "warmup_steps",
    "pretrain_steps",
    "pretrain_lr",
)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """The settings of a leave-one-domain-out experiment.

    The defaults are the main job: the embedded `rotated_digits`, four
    surgeries, every target domain, a small CNN, 600 steps of Adam 1e-3 on
    32 images per source domain, one trial (a few minutes on a CPU).
    `paper(dataset)` returns the paper's settings. Field names are the
    flag names of `tools/train.py`.

    Args:
        dataset: str, a name from `keras_gs.data.DATASETS`. Defaults to
            `"rotated_digits"`.
        data_dir: str or None, see `keras_gs.data.load`. Defaults to `None`.
        manual_dir: str or None, where the archives of PACS, VLCS and
            Office-Home are extracted (see `keras_gs.data.load`). Defaults to
            `None`.
        surgery: tuple of str, surgery names (`keras_gs.surgery.names()`);
            each is run on every target and trial. Defaults to `("erm",
            "agr-sum", "agr-rand", "pcgrad")`.
        backbone: str, a name from `keras_gs.backbones.names()`. Defaults to
            `"small_cnn"`.
        weights: str or None, the backbone's initial weights (`None`,
            `"imagenet"` or a `.weights.h5` path). Defaults to `None`.
        dropout: float or None, the backbone's dropout rate (its `dropout`
            option); None keeps the backbone's default. Defaults to `None`.
        surgery_options: tuple of str, options of the surgeries, each
            `"<surgery>.<option>=<value>"` (e.g. `"and-mask.tau=0.8"`); a
            surgery gets the options with its name. Defaults to `()`.
        test_domains: `"all"` or a tuple of domain names: each is held out
            in turn (one target per run). Defaults to `"all"`.
        trials: int, repetitions of every (surgery, target) with different
            seeds. Defaults to `1`.
        steps: int, training steps per run. Defaults to `600`.
        batch_size: int, images per source domain per step. Defaults to `32`.
        lr: float, Adam's learning rate. Defaults to `1e-3`.
        coupled_l2: float, the paper's L2 (its gradient added after the
            surgery; 5e-5 in the paper). Defaults to `0.0`.
        weight_decay: float, Adam's decoupled weight decay. Defaults to `0.0`.
        eval_every: int, steps between evaluations; a run also evaluates
            at its last step. Defaults to `20`.
        selection: str, the rule of the printed table, from
            `selection.RULES`; every rule is recorded in each run's
            `results.json`. Defaults to `"best_val"`.
        augmentation: str, `"none"` or `"domainbed"`. Defaults to `"none"`.
        check_images: str, how image files are checked before training:
            `"header"` (not an image, damaged header), `"full"` (also
            decodes them: catches truncated files, about 1 ms per image) or
            `"none"`; see `keras_gs.data.load`. Defaults to `"header"`.
        on_bad_image: str, `"raise"` (stop with the list of unreadable
            files) or `"skip"` (leave them out and say how many). Defaults
            to `"raise"`.
        image_size: tuple of int or None, the resizes (see
            `keras_gs.data.load`); None for the dataset's default. Defaults
            to `None`.
        test_on: str, `"split"` (the target's test split) or `"domain"` (the
            whole target domain). Defaults to `"split"`.
        split_seed: int, seed of the 70/10/20 splits. Defaults to `0`.
        seed: int, the seed every trial's seed is derived from. Defaults to
            `0`.
        mixed_precision: bool, train in `mixed_float16`. Defaults to
            `False`.
        warmup_steps: int, each run trains with Deep-All's gradient (the
            mean of the domain gradients) for this many steps, then with
            its surgery (`GradSurgeryModel(warmup_steps=)`; surgeries
            only). Defaults to `0`.
        pretrain_steps: int, the fine-tuning regime of the paper: with N >
            0, each target and trial first trains `erm` on its source
            domains for N steps at `pretrain_lr` (the "pretraining
            stage", once, never on target data), and every surgery of that
            target and trial then starts from the stage's last weights
            and trains `steps` steps at `lr`, with a new optimizer. 0
            trains every run from `weights`. Defaults to `0`.
        pretrain_lr: float, Adam's learning rate in the pretraining stage.
            Defaults to `1e-3`.
        pretrain_workdir: str or None, where the pretraining stages are
            written (`<pretrain_workdir>/stage_<key>/`, one directory per
            stage setting, so experiments and sweeps whose stages have the
            same settings share them). None: `<workdir>/pretrain`.
            Defaults to `None`.
        strategy: str, one of `STRATEGIES`. Defaults to `"default"`.
        workdir: str, where runs are written. Defaults to `"runs"`.
        deterministic: bool, also make TensorFlow's ops deterministic, so
            that the same command on the same machine gives the same
            numbers. Defaults to `True`.
        checkpoint_every: int, keep the network's weights every this many
            steps, in `checkpoints/step_<n>.weights.h5` (at the first
            evaluation at or after each multiple; 0 = never). Defaults to
            `200`.
        backup_every: int, steps between the checkpoints an interrupted run
            resumes from (likewise at evaluations; 0 = never). Defaults to
            `200`.
        conflicts_every: int, write per-layer gradient conflicts to the
            run's TensorBoard logs every this many steps
            (`keras_gs.callbacks.ConflictMonitor`); 0 = never. Defaults
            to `0` (100 in `paper`).
    """

    # The fields with a fixed set of values, and those values.
    CHOICES: ClassVar[dict] = {
        "dataset": data.DATASETS,
        "augmentation": augment.AUGMENTATIONS,
        "check_images": image_check.CHECK_MODES,
        "on_bad_image": image_check.ON_BAD_IMAGE,
        "test_on": data.TEST_ON,
        "selection": selection_lib.RULES,
        "strategy": STRATEGIES,
    }
    # Names a tuple field also takes (`test_domains="all"`).
    SPECIAL_NAMES: ClassVar[tuple] = (ALL,)
    # Fields holding paths (a user's "~" is expanded).
    PATHS: ClassVar[tuple] = (
        "data_dir",
        "manual_dir",
        "workdir",
        "pretrain_workdir",
    )

    dataset: str = "rotated_digits"
    data_dir: str | None = None
    manual_dir: str | None = None
    surgery: tuple[str, ...] = ("erm", "agr-sum", "agr-rand", "pcgrad")
    backbone: str = "small_cnn"
    weights: str | None = None
    dropout: float | None = None
    surgery_options: tuple[str, ...] = ()
    test_domains: str | tuple[str, ...] = ALL
    trials: int = 1
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    coupled_l2: float = 0.0
    weight_decay: float = 0.0
    eval_every: int = 20
    selection: str = "best_val"
    augmentation: str = "none"
    check_images: str = "header"
    on_bad_image: str = "raise"
    image_size: tuple[int, ...] | None = None
    test_on: str = "split"
    split_seed: int = 0
    seed: int = 0
    mixed_precision: bool = False
    warmup_steps: int = 0
    pretrain_steps: int = 0
    pretrain_lr: float = 1e-3
    pretrain_workdir: str | None = None
    strategy: str = "default"
    workdir: str = "runs"
    deterministic: bool = True
    checkpoint_every: int = 200
    backup_every: int = 200
    conflicts_every: int = 0

    def __post_init__(self):
        # Accept lists and single names; store tuples (hashable, JSON-able).
        set_ = object.__setattr__
        if isinstance(self.surgery, str):
            set_(self, "surgery", (self.surgery,))
        set_(self, "surgery", tuple(self.surgery))
        if isinstance(self.surgery_options, str):
            set_(self, "surgery_options", (self.surgery_options,))
        set_(self, "surgery_options", tuple(self.surgery_options))
        if isinstance(self.weights, str) and self.weights.lower() == "none":
            set_(self, "weights", None)  # `--weights=None`, as --help says.
        if isinstance(self.test_domains, str) and self.test_domains != ALL:
            set_(self, "test_domains", (self.test_domains,))
        elif not isinstance(self.test_domains, str):
            set_(self, "test_domains", tuple(self.test_domains))
        if isinstance(self.image_size, int):
            set_(self, "image_size", (self.image_size,))
        elif self.image_size is not None:
            set_(self, "image_size", tuple(self.image_size))

    @classmethod
    def paper(cls, dataset: str, **overrides) -> "ExperimentConfig":
        """The paper's protocol (METHOD.md §3) on `dataset`.

        ImageNet AlexNet, 128 images per domain, Adam 1e-5, coupled L2
        5e-5, 1000 steps, evaluation every 20, best source-validation
        selection, 20 trials, Agr-Sum, Agr-Rand, PCGrad and Deep-All.
        """
        settings = dict(
            dataset=dataset,
            backbone="alexnet",
            weights="imagenet",
            trials=20,
            steps=1000,
            batch_size=128,
            lr=1e-5,
            coupled_l2=5e-5,
            eval_every=20,
            deterministic=False,
            backup_every=100,
            checkpoint_every=0,
            conflicts_every=100,
        )
        settings.update(overrides)
        return cls(**settings)

    def validate(self) -> "ExperimentConfig":
        """Raises a ValueError naming the first bad setting; returns self.

        Names of datasets, surgeries, backbones and selection rules are
        checked against their registries; domain names are checked when the
        data is loaded.
        """
        from keras_gs import backbones
        from keras_gs import surgery

        for name, valid in self.CHOICES.items():
            check_choice(getattr(self, name), valid, name, name)
        if not self.surgery:
            raise ValueError(
                f"`surgery` is empty. Valid: {', '.join(surgery.names())}"
            )
        for name in self.surgery:
            check_choice(name, surgery.names(), "surgery", "surgery")
        if len(set(self.surgery)) != len(self.surgery):
            raise ValueError(
                f"`surgery` names a surgery twice. Received: "
                f"surgery={','.join(self.surgery)}"
            )
        check_choice(self.backbone, backbones.names(), "backbone", "backbone")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={self.dropout}"
            )
        for entry in self.surgery_options:
            check_choice(
                entry.partition(".")[0], surgery.names(), "surgery", "surgery"
            )
        self.surgery_kwargs("")  # Each entry's form.
        surgery_options_lib.check(self.surgery_options, self.surgery, _number)
        for name in self.surgery:
            options = self.surgery_kwargs(name)
            if options:
                try:
                    surgery.get(name, **options)
                except ValueError as error:
                    raise ValueError(
                        f"Bad surgery_options for {name!r}: {error}"
                    ) from None
        if not isinstance(self.test_domains, str) and not self.test_domains:
            raise ValueError("`test_domains` is empty: give 'all' or names.")
        for name in ("trials", "steps", "batch_size", "eval_every"):
            _positive(self, name)
        for name in (
            "checkpoint_every",
            "backup_every",
            "conflicts_every",
            "warmup_steps",
            "pretrain_steps",
        ):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"`{name}` must be >= 0. Received: "
                    f"{name}={getattr(self, name)}"
                )
        for name in ("lr", "pretrain_lr", "coupled_l2", "weight_decay"):
            value = getattr(self, name)
            positive = name.endswith("lr")
            if (
                not math.isfinite(value)
                or value < 0
                or (positive and value == 0)
            ):
                raise ValueError(
                    f"`{name}` must be finite and "
                    f"{'> 0' if positive else '>= 0'}. "
                    f"Received: {name}={value}"
                )
        if self.warmup_steps:
            for name in self.surgery:
                if surgery.get(name).step_method:
                    raise ValueError(
                        f"`warmup_steps` is for the surgeries; {name!r} "
                        "changes the step itself (Fishr's warm-up is "
                        f"`{name}.penalty_anneal_iters`). Received: "
                        f"warmup_steps={self.warmup_steps}, surgery={name}"
                    )
        if self.dataset == "folder" and not self.data_dir:
            raise ValueError(
                "--dataset=folder needs `data_dir`, the root of a "
                "<root>/<domain>/<class>/<image> tree. Received: "
                f"data_dir={self.data_dir!r}"
            )
        if not self.workdir:
            raise ValueError("`workdir` is empty.")
        return self

    def pretrain_stage(self) -> "ExperimentConfig | None":
        """The experiment of the pretraining stages, or None without one.

        `erm` for `pretrain_steps` steps at `pretrain_lr`, with every other
        result-changing setting of this experiment (data, network, batch,
        L2, seed: trial n's stage starts from trial n's initial weights),
        in its own work directory named by those settings.
        """
        if not self.pretrain_steps:
            return None
        stage = dataclasses.replace(
            self,
            surgery=("erm",),
            surgery_options=(),
            steps=self.pretrain_steps,
            lr=self.pretrain_lr,
            warmup_steps=0,
            pretrain_steps=0,
            pretrain_lr=ExperimentConfig.pretrain_lr,
            pretrain_workdir=None,
            checkpoint_every=0,
            conflicts_every=0,
        )
        root = self.pretrain_workdir or os.path.join(self.workdir, "pretrain")
        key = hashlib.sha256(
            json.dumps(stage.result_settings(), sort_keys=True).encode()
        ).hexdigest()[:10]
        return dataclasses.replace(
            stage, workdir=os.path.join(root, f"stage_{key}")
        )

    def surgery_kwargs(self, name: str) -> dict:
        """The options `surgery_options` gives surgery `name`, as kwargs.

        Values are parsed as numbers where they are numbers.

        >>> ExperimentConfig(surgery_options=("and-mask.tau=0.8",)
        ...                  ).surgery_kwargs("and-mask")
        {'tau': 0.8}
        """
        kwargs = {}
        for entry in self.surgery_options:
            target, dot, rest = entry.partition(".")
            option, equals, value = rest.partition("=")
            if not dot or not equals or not option or not target:
                raise ValueError(
                    "Each surgery option is <surgery>.<option>=<value>. "
                    f"Received: surgery_options={entry!r}"
                )
            if target == name:
                kwargs[option] = _number(value)
        return kwargs

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()
        }

    def to_flags(self) -> str:
        """The settings as a `tools/train.py` flagfile, one flag a line."""
        lines = []
        for key, value in dataclasses.asdict(self).items():
            if value is None:
                # Every field that can be None defaults to None.
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, tuple):
                # A list flag's value is CSV: a name holding a comma or a
                # quote is quoted, as absl's list parser reads it back.
                text = io.StringIO()
                csv.writer(text, lineterminator="").writerow(value)
                value = text.getvalue()
            lines.append(f"--{key}={value}")
        return "\n".join(lines) + "\n"

    def result_settings(self) -> dict:
        """The settings that change a run's numbers (`RESULT_FIELDS`)."""
        values = self.to_dict()
        return {k: values[k] for k in RESULT_FIELDS}


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _positive(config, name):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
