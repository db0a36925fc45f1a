"""Atomic file writes: a killed process leaves the old file or the new one.

Everything keras_gs writes for a user (results, reports, checkpoints,
backups, ported weights) goes through `atomic_path`: the data is written
to a temporary name in the same directory and then renamed over the final
name (`os.replace` is atomic on POSIX and Windows), so `kill -9` at any
moment never leaves half a file.
"""

import contextlib
import json
import math
import os
import shutil
import tempfile

_WEIGHTS_SUFFIX = ".weights.h5"


def _umask() -> int:
    # os.umask can only be read by setting it.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yields a temporary path beside `path`; renames it over `path` after.

    The temporary name keeps `path`'s suffix (Keras picks the format of
    `save_weights` from a `.weights.h5` suffix). The file gets the
    permissions a plain `open(path, "w")` would give (mkstemp's are
    owner-only). On an exception the temporary file is removed and `path`
    is left as it was.

    Example:

    ```python
    with atomic_path("best.weights.h5") as temporary:
        model.save_weights(temporary)
    ```
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    suffix = (
        _WEIGHTS_SUFFIX
        if name.endswith(_WEIGHTS_SUFFIX)
        else os.path.splitext(name)[1]
    )
    fd, temporary = tempfile.mkstemp(
        prefix=f".{name}.", suffix=f".tmp{suffix}", dir=directory
    )
    os.close(fd)
    os.chmod(temporary, 0o666 & ~_umask())
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def write_bytes(path: str | os.PathLike, data: bytes):
    """Writes `data` to `path` atomically, flushed to disk."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str):
    """Writes `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value):
    """Writes `value` as indented JSON to `path` atomically.

    Non-finite floats (a NaN loss) become `null`: strict JSON has no NaN.
    """
    write_text(path, json.dumps(_finite(value), indent=1) + "\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def copy(source: str | os.PathLike, path: str | os.PathLike):
    """Copies the file `source` to `path` atomically."""
    with atomic_path(path) as temporary:
        shutil.copyfile(source, temporary)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
