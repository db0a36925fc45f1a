"""What the command-line tools share: one-line errors, a quiet TensorFlow.

Each tool in this folder imports it as `cli` (a script's folder is on
`sys.path`).
"""

import contextlib
import os
import sys
import tempfile

from absl import flags


def fail(prog: str, error):
    """Prints one line `<prog>: error: ...` and exits with status 2."""
    message = error.args[0] if isinstance(error, KeyError) else str(error)
    # absl prefixes some of its messages; a message is one line.
    message = " ".join(message.removeprefix("ERROR:: ").split())
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def flags_parser(prog: str):
    """absl's parsing for `app.run`: a bad flag or flagfile is one line."""

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            fail(prog, error)

    return parse


@contextlib.contextmanager
def quiet_native_stderr():
    """Hides what C++ code writes to the process's stderr meanwhile.

    TensorFlow's runtime prints lines about oneDNN and CUDA drivers before
    its logging is configured, whatever TF_CPP_MIN_LOG_LEVEL says. They are
    shown after all when the block raises, and never hidden when
    TF_CPP_MIN_LOG_LEVEL is 0.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
