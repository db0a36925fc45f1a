r"""Prints and writes the results table of a work directory, at any time.

    python tools/collect_results.py runs
    python tools/collect_results.py runs --selection=oracle

Reads every finished run's results.json under the work directory and
writes <workdir>/results.md, results.tex and results.png (rows: surgeries;
columns: target domains and their average; mean ± std over trials, with
the number of trials). Runs still going are left out.
"""

import os

from absl import app
from absl import flags

import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "collect_results.py"

flags.DEFINE_string(
    "selection",
    "best_val",
    "best_val (the paper: best source-validation accuracy), last, or "
    "oracle (best target-validation accuracy).",
)
FLAGS = flags.FLAGS
# What marks a sweep's work directory (keras_gs.sweeps.config.SWEEP_FILE,
# not imported: it would load TensorFlow before the check).
SWEEP_FILE = "sweep.json"


def main(argv):
    if len(argv) != 2:
        fail("give one work directory: collect_results.py <workdir>")
    workdir = argv[1]
    if os.path.isfile(os.path.join(workdir, SWEEP_FILE)):
        fail(
            f"{workdir} is a sweep's work directory: tools/sweep.py writes "
            f"its tables to {os.path.join(workdir, 'sweep.md')} (and "
            "--status prints them so far); for one configuration's runs, "
            f"give {os.path.join(workdir, 'hparams_<i>')}."
        )
    tables = import_tables()

    problems = []
    try:
        found = tables.collect(workdir, FLAGS.selection, problems)
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    print(tables.markdown(found, problems))
    try:
        paths = tables.write_reports(workdir, found, problems)
    except OSError as error:
        fail(
            f"cannot write the reports in {workdir} "
            f"({error.strerror or error}); the table is printed above."
        )
    if paths:
        print("Written: " + ", ".join(paths))


def import_tables():
    """keras_gs.experiment.tables, with TensorFlow's start-up lines hidden."""
    with cli.quiet_native_stderr():
        from keras_gs.experiment import tables
    return tables


def fail(error):
    cli.fail(PROG, error)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(PROG))
