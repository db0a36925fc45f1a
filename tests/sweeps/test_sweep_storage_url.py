"""`StorageURL`: a password is never shown, however malformed the URL;
relative SQLite paths and `postgres://` (issue 31, items 4, 5 and 12)."""

import os
import pickle

import pytest

from keras_gs.sweeps import open_storage
from keras_gs.sweeps.storage_url import StorageURL
from keras_gs.sweeps.storage_url import mask
from keras_gs.sweeps.storage_url import password

SECRET = "s3cr#t"


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            f"postgresql://me:{SECRET}@db.example:5432/sweeps",
            "postgresql://me:***@db.example:5432/sweeps",
        ),
        # A port typo: not a URL SQLAlchemy parses.
        (
            f"postgresql://me:{SECRET}@db.example:5543x/sweeps",
            "postgresql://me:***@db.example:5543x/sweeps",
        ),
        # An IPv6 host without its closing bracket.
        (f"postgresql://me:{SECRET}@[::1/sweeps", "postgresql://me:***@[::1/sweeps"),
        # One slash after the scheme.
        (f"postgresql:/me:{SECRET}@host/db", "postgresql:/me:***@host/db"),
        # An unencoded `@` in the password: masked up to the last `@`.
        (f"postgresql://me:{SECRET}@x@host/db", "postgresql://me:***@host/db"),
        # A password as a query parameter.
        (
            f"postgresql://me@host/db?password={SECRET}&sslmode=require",
            "postgresql://me@host/db?password=***&sslmode=require",
        ),
        # No scheme at all.
        (f"me:{SECRET}@host/db", "***@host/db"),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
        ("sqlite:////tmp/sweep.db", "sqlite:////tmp/sweep.db"),
    ],
)
def test_the_password_is_masked(url, shown):
    assert mask(url) == shown
    assert SECRET not in mask(url)


def test_the_password_is_found_with_an_unencoded_at():
    assert password(f"postgresql://me:{SECRET}@x@host/db") == SECRET + "@x"
    assert password("postgresql://me@host/db") is None


def test_a_storage_url_shows_no_password_anywhere():
    url = StorageURL(f"postgres://me:{SECRET}@host:5432/db")
    for text in (str(url), repr(url), f"{url}", f"{url!r}"):
        assert SECRET not in text
    # Heroku's scheme is PostgreSQL's, with the driver keras_gs installs.
    assert url.kind == "postgresql"
    assert url.secret == f"postgresql+psycopg2://me:{SECRET}@host:5432/db"
    assert url.hide(f"failed for {SECRET}") == "failed for ***"
    assert pickle.loads(pickle.dumps(url)) == url


def test_an_unknown_scheme_is_refused_without_its_password():
    with pytest.raises(ValueError) as error:
        StorageURL(f"mysql://me:{SECRET}@host/db")
    assert str(error.value) == (
        "Unknown storage. Received: storage='mysql://me:***@host/db'. "
        "Valid: sqlite:///<path>, postgresql://user:password@host:port/database"
    )


def test_a_relative_sqlite_path_is_relative_to_the_workdir(tmp_path):
    url = StorageURL("sqlite:///relative.db", workdir=str(tmp_path / "w"))
    assert url.path == str(tmp_path / "w" / "relative.db")
    assert url.secret == "sqlite:///" + str(tmp_path / "w" / "relative.db")
    absolute = StorageURL("sqlite:////tmp/x.db", workdir=str(tmp_path))
    assert absolute.path == "/tmp/x.db"


def test_a_malformed_url_fails_in_one_line_without_its_password():
    url = f"postgresql://me:{SECRET}@db.example:5543x/sweeps"
    with pytest.raises(ValueError) as error:
        open_storage(url)
    message = str(error.value)
    assert SECRET not in message and "\n" not in message
    assert message.startswith(
        "Cannot open the storage. Received: "
        "storage='postgresql://me:***@db.example:5543x/sweeps' ("
    )
    assert os.linesep not in message
