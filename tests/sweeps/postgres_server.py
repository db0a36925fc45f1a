"""A throwaway PostgreSQL server for a test: initdb and pg_ctl in a temp dir.

Debian's `postgresql` package installs the server's programs in
`/usr/lib/postgresql/<version>/bin` (not on PATH). The server runs as a
non-root user (PostgreSQL refuses root): the current user, or `nobody`
when the tests run as root (CI), on a free local port; everything is
removed afterwards.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

INSTALL = (
    "the PostgreSQL server is not installed: apt-get install -y postgresql "
    "(Debian, Ubuntu), or put initdb and pg_ctl on PATH"
)
# Set by .ci/run: there a missing server is a failure, not a skip.
REQUIRED = os.environ.get("KERAS_GS_REQUIRE_POSTGRES") == "1"


def server_bin():
    """The folder of initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(versions[-1]) if versions else None


def unavailable():
    """Why no server can be started here, or None."""
    if server_bin() is None:
        return INSTALL
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running the server as nobody needs runuser (util-linux)"
    return None


def skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def postgres_server():
    """Yields the URL of a new, empty PostgreSQL server."""
    with postgres_cluster() as cluster:
        yield cluster.url


class Cluster:
    """A running throwaway server: its `url`, and `stop()`/`start()` to
    take it down and up again (an outage) on the same port and data."""

    def __init__(self, run, data, root, port, password):
        self._run = run
        self._data = data
        self._root = root
        self.port = port
        user = f"postgres:{password}" if password else "postgres"
        self.url = f"postgresql://{user}@127.0.0.1:{port}/postgres"
        self.running = False

    def start(self):
        self._run(
            "pg_ctl",
            "-D",
            self._data,
            "-l",
            os.path.join(self._root, "server.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 "
            # A test's data need not survive a crash.
            "-c fsync=off -c max_connections=50",
            "start",
        )
        self.running = True

    def stop(self):
        self._run("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop")
        self.running = False


@contextlib.contextmanager
def postgres_cluster(password=None):
    """Yields a `Cluster`: a new, empty PostgreSQL server, which asks for
    `password` (user `postgres`) when one is given."""
    reason = unavailable()
    if reason:
        skip_or_fail(reason)
    bindir = server_bin()
    as_root = os.geteuid() == 0
    user = "nobody" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    root = tempfile.mkdtemp(prefix="keras_gs_pg_")
    data = os.path.join(root, "data")
    if as_root:
        os.chmod(root, 0o755)
        shutil.chown(root, user=user)

    def run(*command):
        command = [os.path.join(bindir, command[0]), *command[1:]]
        if as_root:
            command = ["runuser", "-u", user, "--", *command]
        return subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=120
        )

    cluster = Cluster(run, data, root, _free_port(), password)
    try:
        try:
            if password:
                pwfile = os.path.join(root, "pwfile")
                with open(pwfile, "w", encoding="utf-8") as f:
                    f.write(password + "\n")
                if as_root:
                    shutil.chown(pwfile, user=user)
                auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
            else:
                auth = ["--auth=trust"]
            run("initdb", "-D", data, "-U", "postgres", *auth)
            if password:
                os.remove(pwfile)
            cluster.start()
        except subprocess.CalledProcessError as error:
            skip_or_fail(f"could not start PostgreSQL: {error.stderr or error}")
        yield cluster
    finally:
        if cluster.running:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
