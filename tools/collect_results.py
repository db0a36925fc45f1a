r"""Prints and writes the results table of a work directory, at any time.

    python tools/collect_results.py runs
    python tools/collect_results.py runs --selection=oracle

Reads every finished run's results.json under the work directory and
writes <workdir>/results.md, results.tex and results.png (rows: surgeries;
columns: target domains and their average; mean ± std over trials, with
the number of trials). Runs still going are left out.
"""

import os
import sys
import tempfile

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "collect_results.py"

flags.DEFINE_string(
    "selection",
    "best_val",
    "best_val (the paper: best source-validation accuracy), last, or "
    "oracle (best target-validation accuracy).",
)
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) != 2:
        fail("give one work directory: collect_results.py <workdir>")
    workdir = argv[1]
    tables = import_tables()

    try:
        found = tables.collect(workdir, FLAGS.selection)
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    print(tables.markdown(found))
    paths = tables.write_reports(workdir, found)
    if paths:
        print("Written: " + ", ".join(paths))


def import_tables():
    """keras_gs.experiment.tables, hiding TensorFlow's start-up lines.

    The package loads TensorFlow, whose C++ runtime prints lines about
    oneDNN and CUDA to stderr whatever TF_CPP_MIN_LOG_LEVEL says; they are
    shown only if the import fails (see tools/train.py).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            from keras_gs.experiment import tables
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tables


def fail(error):
    print(f"{PROG}: error: {error}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_flags(argv):
    try:
        return FLAGS(argv)
    except flags.Error as error:
        fail(error)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
