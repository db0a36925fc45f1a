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
import signal
import sys
import time

_STARTED = time.perf_counter()

from absl import app
from absl import flags
from absl import logging

import cli
import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "train.py"
FLAGS = flags.FLAGS


def define_flags(flag_values=flags.FLAGS):
    """Defines train.py's flags in `flag_values`: one per setting of
    `ExperimentConfig` (tests define them in their own FlagValues)."""
    config_flags.define_config_flags(
        import_experiment().ExperimentConfig, flag_values
    )


def config_from_flags(values, experiment):
    """The typed `ExperimentConfig` of parsed flags `values`."""
    return config_flags.config_from_flags(experiment.ExperimentConfig, values)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags are --name=value.")
    try:
        # TFDS logs through absl at WARNING what users need not act on
        # (e.g. "Variant folder ... has no dataset_info.json").
        logging.set_verbosity(logging.ERROR)
        experiment = import_experiment()
        # MultiWorkerMirroredStrategy configures TensorFlow's runtime
        # itself: it must not be started before.
        if FLAGS.strategy != "multi_worker":
            start_runtime()
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
    except experiment.interrupts.Terminated:
        # The conventional status of a process ended by SIGTERM.
        sys.exit(128 + signal.SIGTERM)
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


def import_experiment():
    """keras_gs.experiment, with TensorFlow's start-up lines hidden.

    The physical devices are listed here too (quietly): TensorFlow lists
    them again when absl's app starts, which would print CUDA's start-up
    lines otherwise. (Physical devices only: the runtime, which
    MultiWorkerMirroredStrategy must configure first, is not started.)
    """
    with cli.quiet_native_stderr():
        import tensorflow as tf

        from keras_gs import experiment

        tf.config.list_physical_devices()
    return experiment


def start_runtime():
    """Lists TensorFlow's devices (starting its runtime) quietly."""
    with cli.quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_logical_devices()


def fail(error):
    cli.fail(PROG, error)


if __name__ == "__main__":
    define_flags()
    # Listed in --help with train.py's own flags.
    flags.adopt_module_key_flags(config_flags)
    app.run(main, flags_parser=cli.flags_parser(PROG))
