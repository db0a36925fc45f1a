r"""Prints regimes side by side: each rule's average over targets and its
paired difference to ERM, with standard errors over trials.

    python tools/compare_regimes.py from_scratch=runs fine_tuned=runs/finetune

Each argument is NAME=WORKDIR, a work directory of tools/train.py holding
one table (one dataset and setting). See keras_gs/experiment/comparison.py
for the statistics.
"""

import os

from absl import app
from absl import flags

import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "compare_regimes.py"

flags.DEFINE_string(
    "selection", "best_val", "best_val (the paper's), last, or oracle."
)
flags.DEFINE_string("reference", "erm", "The rule differences are taken to.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) < 2:
        cli.fail(PROG, "give one or more NAME=WORKDIR arguments")
    with cli.quiet_native_stderr():
        from keras_gs.experiment import comparison
        from keras_gs.experiment import tables
    regimes = {}
    for argument in argv[1:]:
        name, equals, workdir = argument.partition("=")
        if not equals or not name or not workdir:
            cli.fail(PROG, f"arguments are NAME=WORKDIR. Received: {argument!r}")
        try:
            found = tables.collect(workdir, FLAGS.selection)
        except (ValueError, FileNotFoundError) as error:
            cli.fail(PROG, error)
        if len(found) != 1:
            cli.fail(
                PROG,
                f"{workdir} holds {len(found)} tables (one dataset and "
                "setting needed); run tools/collect_results.py on it to see "
                "them.",
            )
        regimes[name] = found[0]
    print(comparison.markdown(regimes, FLAGS.reference))


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(PROG))
