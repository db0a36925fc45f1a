"""`StorageURL`: a sweep's storage URL, parsed once, whose password is never
shown.

The URL may hold a PostgreSQL password. Everything that prints a URL (the
start-up line, `--status`, `sweep.json`, errors) prints `str(url)`, the
masked form; only `StorageURL.secret` connects. The masking does not rely
on the URL being well formed: a user's typo (`:5543x`, `[::1`, one slash
after the scheme) or a password with an unencoded `@` is still masked,
everything between the scheme and the last `@` but the user name.

Where the URL comes from:

- `--storage` (or `SweepConfig.storage`);
- else the environment variable `KERAS_GS_SWEEP_STORAGE`, which keeps the
  password off the command line (`ps` shows a command line to every user
  of the machine; a process's environment only to its owner). The workers
  that `tools/sweep.py --workers=N` starts get it so, never by argv;
- else `sqlite:///<workdir>/sweep.db`.

A relative SQLite path is relative to the work directory (not to where
the command runs, so that the same command from elsewhere finds the same
storage); `postgres://` (Heroku's scheme) is PostgreSQL's.
"""

import os
import re

ENVIRONMENT = "KERAS_GS_SWEEP_STORAGE"
MASK = "***"
# The driver keras_gs installs (SQLAlchemy 2.1's default for a bare
# postgresql:// is psycopg 3).
_POSTGRESQL_DRIVER = "postgresql+psycopg2"
_POSTGRESQL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_QUERY_PASSWORD = re.compile(r"(password=)[^&]*", re.IGNORECASE)


def mask(text: str) -> str:
    """`text` (a URL, well formed or not) with its password shown as `***`.

    The password is whatever lies between the first `:` after the scheme
    and the last `@` (unencoded `@` in a password included), and any
    `password=` query parameter.
    """
    return _split(text)[0]


def password(text: str) -> str | None:
    """The password of URL `text`, or None (as `mask` finds it)."""
    return _split(text)[1]


def _split(text):
    text = _QUERY_PASSWORD.sub(r"\1" + MASK, text)
    scheme, colon, rest = text.partition(":")
    if not (colon and rest.startswith("/") and _SCHEME.fullmatch(scheme)):
        # No scheme at all: not a URL; anything before an `@` may be a
        # password.
        head, at, tail = text.rpartition("@")
        return (MASK + at + tail, head or None) if at else (text, None)
    body = rest.lstrip("/")
    slashes = rest[: len(rest) - len(body)]
    userinfo, at, hostpart = body.rpartition("@")
    if not at:
        return text, None
    user, has_password, secret = userinfo.partition(":")
    if not has_password:
        return text, None
    shown = f"{scheme}:{slashes}{user}:{MASK}@{hostpart}"
    return shown, secret


class StorageURL:
    """An Optuna storage URL; `str()` and `repr()` hide its password.

    Args:
        text: str, an SQLAlchemy URL: `sqlite:///path` (relative to
            `workdir`), `sqlite:////absolute/path`,
            `postgresql://user:password@host:port/database` (or
            `postgres://`).
        workdir: str or None, what a relative SQLite path is relative to;
            None for the current directory. Defaults to `None`.

    Raises:
        ValueError: naming the masked URL, when the scheme is neither
            SQLite's nor PostgreSQL's.
    """

    def __init__(self, text: str, workdir: str | None = None):
        text = str(text.secret if isinstance(text, StorageURL) else text)
        self._text = text
        self._password = password(text)
        self.shown = mask(text)
        scheme = text.partition(":")[0].lower()
        if scheme == "sqlite":
            self.kind = "sqlite"
            path = text.partition(":")[2]
            if not path.startswith("///"):
                raise ValueError(
                    "An SQLite storage URL is sqlite:///<path> (three "
                    f"slashes). Received: storage={self.shown!r}"
                )
            path = path[3:]
            if path and path != ":memory:":
                path = os.path.abspath(os.path.join(workdir or "", path))
            self.path = path
            self.secret = "sqlite:///" + path
        elif scheme in _POSTGRESQL_SCHEMES:
            self.kind = "postgresql"
            self.path = None
            self.secret = _POSTGRESQL_DRIVER + text[len(scheme) :]
        else:
            raise ValueError(
                "Unknown storage. Received: "
                f"storage={self.shown!r}. Valid: sqlite:///<path>, "
                "postgresql://user:password@host:port/database"
            )
        # What another process is given: the same storage, with the same
        # masked form (an SQLite path resolved already).
        self.text = self.secret if self.kind == "sqlite" else text
        if self.kind == "sqlite":
            self.shown = self.secret  # Its own path, not the user's text.

    @classmethod
    def of(cls, url, workdir=None) -> "StorageURL":
        """`url` if already a `StorageURL`, else `StorageURL(url, workdir)`."""
        return url if isinstance(url, cls) else cls(url, workdir)

    def hide(self, text: str) -> str:
        """`text` (e.g. a driver's error) with this URL's password masked."""
        text = str(text)
        if self._password:
            text = text.replace(self._password, MASK)
        return text

    def __str__(self):
        return self.shown

    def __repr__(self):
        return f"StorageURL({self.shown!r})"

    def __eq__(self, other):
        return isinstance(other, StorageURL) and self.secret == other.secret

    def __hash__(self):
        return hash(self.secret)

    def __reduce__(self):
        # Pickled (multiprocessing) as its text, not as a masked string.
        return (StorageURL, (self.text,))
