r"""The paper's gradient-conflict analysis on a trained run's checkpoints.

For each checkpoint and each layer of the network (and the whole network):
the share of components whose sign every source domain's gradient agrees
on, and the cosine between per-example gradients of one domain (intra)
and of two domains (inter, over every pair of domains), on batches drawn
from a single class of each domain (as the paper's helpers) and from all
classes. Train with checkpoints kept, then analyze:

    python tools/train.py --surgery=erm --test_domains=0 --checkpoint_every=20
    python tools/analyze_conflicts.py --run=runs/rotated_digits/erm/0/trial_0

Writes conflicts.csv, agreement.png and cosine.png into <run>/conflicts/
(--output_dir to change) and prints a summary.
"""

import os
import time

_STARTED = time.perf_counter()

from absl import app
from absl import flags

import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "analyze_conflicts.py"

flags.DEFINE_string(
    "run", None, "A run's directory: <workdir>/<dataset>/<surgery>/<target>/"
    "trial_<n>."
)
flags.DEFINE_list(
    "checkpoints",
    [],
    "Checkpoints to analyze: step_<n> (or <n>), best, last. Default: every "
    "step_<n> (best and last if there is none).",
)
flags.DEFINE_integer(
    "batch_size", 16, "Examples per domain per batch (memory grows with it)."
)
flags.DEFINE_integer("repeats", 1, "Batches per class.")
flags.DEFINE_list("classes", [], "Class names to draw from. Default: all.")
flags.DEFINE_bool(
    "with_replacement", True, "Draw examples with replacement (the paper)."
)
flags.DEFINE_integer("seed", 0, "Seed of the draws.")
flags.DEFINE_string(
    "output_dir", None, "Where to write. Default: <run>/conflicts."
)
flags.DEFINE_string(
    "data_dir", None, "Overrides the run's data_dir (if the data moved)."
)
flags.DEFINE_string("manual_dir", None, "Overrides the run's manual_dir.")
flags.mark_flag_as_required("run")

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags are --name=value.")
    run_path = os.path.expanduser(FLAGS.run)
    if not os.path.isdir(run_path):
        fail(f"no run directory at {run_path}")
    for name, least in (("batch_size", 2), ("repeats", 1)):
        if getattr(FLAGS, name) < least:
            fail(
                f"--{name} must be >= {least}. Received: "
                f"{name}={getattr(FLAGS, name)}"
            )
    analysis = import_quietly()
    try:
        run = analysis.open_run(run_path)
        checkpoints = run.select(FLAGS.checkpoints)
        splits = analysis.load_splits(
            run.config, _path(FLAGS.data_dir), _path(FLAGS.manual_dir)
        )
        classes = class_indices(FLAGS.classes, splits.class_names)
        batches = analysis.class_batches(
            splits.train_domains,
            splits.num_classes,
            batch_size=FLAGS.batch_size,
            repeats=FLAGS.repeats,
            seed=FLAGS.seed,
            replace=FLAGS.with_replacement,
            classes=classes,
            domain_names=splits.source_domains,
            class_names=splits.class_names,
        )
        network = analysis.build_network(run.config, splits)
    except (FileNotFoundError, ValueError) as error:
        fail(error)
    analyzer = analysis.ConflictAnalyzer(network)
    examples = len(splits.source_domains) * FLAGS.batch_size
    print(
        f"{run.config.dataset}, {run.surgery}, target {run.test_domain}: "
        f"{len(checkpoints)} checkpoint(s), {len(batches)} batches of "
        f"{FLAGS.batch_size} examples from each of "
        f"{len(splits.source_domains)} source domains, "
        f"{len(analyzer.layers) - 1} layers, {analyzer.parameters:,} "
        f"parameters ({examples * analyzer.parameters * 4 / 2**30:.2f} GiB "
        "of per-example gradients per batch).",
        flush=True,
    )

    def progress(done, total, checkpoint):
        print(f"[{done}/{total}] {checkpoint.name}", flush=True)

    try:
        report = analyzer.analyze(
            batches, checkpoints, splits.class_names, progress
        )
    except ValueError as error:
        fail(error)
    output_dir = _path(FLAGS.output_dir) or os.path.join(run_path, "conflicts")
    paths = analysis.write_outputs(report, output_dir)
    print(
        analysis.summary(
            report,
            f"Per-example gradients by tf.{report.method}; "
            f"{report.seconds:.1f} s for {len(checkpoints)} checkpoint(s).",
        )
    )
    print("Written: " + ", ".join(paths))
    print(f"Wall time {time.perf_counter() - _STARTED:.1f} s.")


def class_indices(names, class_names):
    """Indices of the class names given (None for all); ValueError if bad."""
    if not names:
        return None
    indices = []
    for name in names:
        if name not in class_names:
            raise ValueError(
                f"Unknown class. Received: classes={name!r}. Valid: "
                f"{', '.join(class_names)}"
            )
        indices.append(list(class_names).index(name))
    return indices


def import_quietly():
    """Imports keras_gs.analysis with TensorFlow's start-up lines hidden.

    `pfor`'s note that it loops over a convolution's filter gradient is
    silenced too.
    """
    with cli.quiet_native_stderr():
        import tensorflow as tf

        from keras_gs import analysis

        tf.config.list_logical_devices()
        tf.get_logger().setLevel("ERROR")
    return analysis


def fail(error):
    cli.fail(PROG, error)


def _path(value):
    return os.path.expanduser(value) if value else value


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(PROG))
