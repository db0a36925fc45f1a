r"""Runs the paper's leave-one-domain-out protocol and prints its table.

With no flags: the main job, on the embedded rotated digits (Deep-All/ERM,
Agr-Sum, Agr-Rand and PCGrad, every target domain, a small CNN; a few
minutes on a CPU). The paper's settings are in configs/<dataset>.flags:

    python tools/train.py
    python tools/train.py --flagfile=configs/pacs.flags --data_dir=~/data
    python tools/train.py --flagfile=configs/pacs.flags --surgery=agr-sum

A flag on the command line overrides the flagfile. Runs are written to
<workdir>/<dataset>/<surgery>/<test_domain>/trial_<n>/; running the same
command again skips finished runs and resumes an interrupted one. The
table: <workdir>/results.md (also .tex, .png); tools/collect_results.py
rebuilds it at any time. TensorBoard: tensorboard --logdir <workdir>.
"""

import os
import sys
import time

_STARTED = time.perf_counter()

from absl import app
from absl import flags
from absl import logging

import cli

# Set before TensorFlow is imported (it is imported after the flags are
# parsed, so that a bad flag fails at once).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "train.py"


def define_flags(flag_values=flags.FLAGS):
    """Defines train.py's flags in `flag_values` (tests use their own)."""
    fv = flag_values
    # -- data -------------------------------------------------------------
    flags.DEFINE_string(
        "dataset",
        "rotated_digits",
        "pacs, vlcs, office_home, domainnet, folder or rotated_digits.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "The folder tree's root (folder); TFDS's data directory for pacs, "
        "vlcs, office_home, domainnet (default: ~/tensorflow_datasets).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "manual_dir",
        None,
        "Where the PACS/VLCS/Office-Home archives are extracted (default: "
        "<data_dir>/downloads/manual).",
        flag_values=fv,
    )
    flags.DEFINE_list(
        "test_domains",
        ["all"],
        "Target domains, each held out in turn: all, or a comma list.",
        flag_values=fv,
    )
    flags.DEFINE_list(
        "image_size",
        [],
        "Square resizes, e.g. 227,224 (the paper's); empty: the dataset's "
        "default.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "augmentation", "none", "none or domainbed.", flag_values=fv
    )
    flags.DEFINE_string(
        "check_images",
        "header",
        "Image files checked before training: header (not an image, "
        "damaged header), full (also decoded: truncated files; ~1 ms per "
        "image), none.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "test_on",
        "split",
        "split: the target's 20% test split (the paper); domain: all of it.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "split_seed", 0, "Seed of the 70/10/20 splits.", flag_values=fv
    )
    # -- model ------------------------------------------------------------
    flags.DEFINE_list(
        "surgery",
        ["erm", "agr-sum", "agr-rand", "pcgrad"],
        "Surgeries to compare: erm (deep-all), sum, mean, agr-sum, "
        "agr-rand, pcgrad, and-mask, sand-mask.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "backbone", "small_cnn", "small_cnn, alexnet, ...", flag_values=fv
    )
    flags.DEFINE_string(
        "weights",
        None,
        "Backbone weights: imagenet or a .weights.h5 path; empty: random.",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "dropout",
        None,
        "The backbone's dropout rate; empty: the backbone's default.",
        flag_values=fv,
    )
    flags.DEFINE_list(
        "surgery_options",
        [],
        "Surgery options, each <surgery>.<option>=<value>, e.g. "
        "and-mask.tau=0.8,sand-mask.k=5.",
        flag_values=fv,
    )
    # -- optimization -----------------------------------------------------
    flags.DEFINE_integer(
        "steps", 600, "Training steps per run.", flag_values=fv
    )
    flags.DEFINE_integer(
        "batch_size",
        32,
        "Images per source domain per step.",
        flag_values=fv,
    )
    flags.DEFINE_float("lr", 1e-3, "Adam's learning rate.", flag_values=fv)
    flags.DEFINE_float(
        "coupled_l2",
        0.0,
        "L2 added to the gradient after the surgery (the paper: 5e-5).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "weight_decay",
        0.0,
        "Adam's decoupled weight decay.",
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "mixed_precision", False, "Train in mixed_float16.", flag_values=fv
    )
    # -- protocol ---------------------------------------------------------
    flags.DEFINE_integer(
        "trials", 1, "Trials per (surgery, target).", flag_values=fv
    )
    flags.DEFINE_integer(
        "eval_every",
        20,
        "Steps between evaluations (divides --steps).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "selection",
        "best_val",
        "The table's selection rule: best_val (the paper: best "
        "source-validation accuracy, earliest on ties), last, or oracle "
        "(best target-validation accuracy).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "seed", 0, "Seed the trials' seeds derive from.", flag_values=fv
    )
    flags.DEFINE_bool(
        "deterministic",
        True,
        "Deterministic TensorFlow ops: the same command on the same "
        "machine gives the same numbers.",
        flag_values=fv,
    )
    # -- execution and outputs --------------------------------------------
    flags.DEFINE_string(
        "strategy",
        "default",
        "default; mirrored (every visible GPU, or the CPU); multi_worker "
        "(reads TF_CONFIG).",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "workdir",
        "runs",
        "Where runs and the table are written.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "checkpoint_every",
        200,
        "Keep the weights every N steps "
        "(checkpoints/step_<N>.weights.h5); 0: never.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "conflicts_every",
        0,
        "Write per-layer gradient conflicts (agreement, cosine, norms, "
        "what the surgery replaced) to TensorBoard every N steps, a "
        "multiple of --eval_every; 0: never.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "backup_every",
        200,
        "Steps between the checkpoints an interrupted run resumes from; "
        "0: never.",
        flag_values=fv,
    )


FLAGS = flags.FLAGS


def config_from_flags(values, experiment):
    """The typed `ExperimentConfig` of parsed flags `values`."""
    test_domains = values.test_domains
    if [d.lower() for d in test_domains] == ["all"]:
        test_domains = "all"
    try:
        image_size = tuple(int(s) for s in values.image_size) or None
    except ValueError:
        raise ValueError(
            f"--image_size takes integers. Received: "
            f"image_size={','.join(values.image_size)}"
        ) from None
    return experiment.ExperimentConfig(
        dataset=values.dataset,
        data_dir=_path(values.data_dir),
        manual_dir=_path(values.manual_dir),
        surgery=tuple(values.surgery),
        backbone=values.backbone,
        weights=values.weights or None,
        dropout=values.dropout,
        surgery_options=tuple(values.surgery_options),
        test_domains=test_domains,
        trials=values.trials,
        steps=values.steps,
        batch_size=values.batch_size,
        lr=values.lr,
        coupled_l2=values.coupled_l2,
        weight_decay=values.weight_decay,
        eval_every=values.eval_every,
        selection=values.selection,
        augmentation=values.augmentation,
        check_images=values.check_images,
        image_size=image_size,
        test_on=values.test_on,
        split_seed=values.split_seed,
        seed=values.seed,
        mixed_precision=values.mixed_precision,
        strategy=values.strategy,
        workdir=_path(values.workdir),
        deterministic=values.deterministic,
        checkpoint_every=values.checkpoint_every,
        backup_every=values.backup_every,
        conflicts_every=values.conflicts_every,
    )


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags are --name=value.")
    try:
        print("Loading TensorFlow...", flush=True)
        # TFDS logs through absl at WARNING what users need not act on
        # (e.g. "Variant folder ... has no dataset_info.json").
        logging.set_verbosity(logging.ERROR)
        # MultiWorkerMirroredStrategy configures TensorFlow's runtime
        # itself: it must not be started before.
        experiment = import_quietly(
            start_runtime=FLAGS.strategy != "multi_worker"
        )
        start_up = time.perf_counter() - _STARTED
        runner = prepare(FLAGS, experiment)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before training.", file=sys.stderr)
        sys.exit(130)
    print(describe(runner), flush=True)
    try:
        summary = runner.run()
    except KeyboardInterrupt:
        # The progress report has said which checkpoint is kept.
        sys.exit(130)
    print()
    if not runner.writes_files:
        print("Not the chief: the chief writes the runs and the table.")
    else:
        print(summary.markdown)
    if summary.report_paths:
        print("Written: " + ", ".join(summary.report_paths))
    print(timing_line({"start-up": start_up, **summary.timing}))


def prepare(values, experiment):
    """The `Experiment` of the flags; a bad input exits with one line.

    Everything a user can get wrong (names, numbers, paths, an unprepared
    dataset, unreadable images, TF_CONFIG) is checked here, before any
    training; errors that come later are bugs and keep their traceback.
    """
    try:
        return experiment.Experiment(config_from_flags(values, experiment))
    except (ValueError, FileNotFoundError) as error:
        fail(error)


def describe(runner):
    config = runner.config
    pending = len(runner.runs) - len(runner.finished)
    return (
        f"{config.dataset}: {len(config.surgery)} surgeries x "
        f"{len(runner.targets)} targets x {config.trials} trial(s) = "
        f"{len(runner.runs)} runs of {config.steps} steps ({pending} to "
        f"train), {config.backbone}, {config.batch_size} images per source "
        f"domain per step. Writing to {config.workdir}/ "
        f"(tensorboard --logdir {config.workdir})."
    )


def timing_line(timing):
    total = time.perf_counter() - _STARTED
    parts = ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in timing.items()
    )
    return f"Wall time {total:.1f} s: {parts} (seconds)."


def import_quietly(start_runtime=True):
    """Imports keras_gs.experiment with TensorFlow's start-up lines hidden.

    With `start_runtime`, TensorFlow's devices are listed too (their lines
    hidden as well).
    """
    with cli.quiet_native_stderr():
        import tensorflow as tf

        from keras_gs import experiment

        if start_runtime:
            tf.config.list_logical_devices()
    return experiment


def fail(error):
    cli.fail(PROG, error)


def _path(value):
    return os.path.expanduser(value) if value else None


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.flags_parser(PROG))
