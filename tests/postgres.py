"""A throw-away PostgreSQL cluster for scale-out tests, started from Debian's server binaries."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from boxcert.devstack import free_port


def pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh cluster on 127.0.0.1; stop and delete it after."""
    with running_postgres() as cluster:
        yield cluster.url


class RunningPostgres:
    """A cluster started by :func:`running_postgres`: its URL, and a way to stop it early (a
    database server that goes away under a running service)."""

    def __init__(self, url: str, stop: Callable[[], None], data_dir: str = "") -> None:
        self.url = url
        self.data_dir = data_dir
        self._stop = stop
        self.stopped = False

    def server_pid(self) -> int:
        """The postmaster's pid (its children are the connections' backends)."""
        with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._stop()


@contextmanager
def running_postgres() -> Iterator[RunningPostgres]:
    bindir = pg_bin()
    assert bindir is not None, "PostgreSQL server binaries not found"
    root = os.geteuid() == 0
    base = tempfile.mkdtemp(prefix="boxcert-pg-")
    data = os.path.join(base, "data")
    port = free_port()

    def as_owner(*cmd: str) -> None:
        # PostgreSQL refuses to run as root: run it as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if root else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)

    if root:
        shutil.chown(base, "postgres", "postgres")
    try:
        as_owner(
            f"{bindir}/initdb",
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "boxcert",
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        )
        as_owner(
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            os.path.join(base, "log"),
            "-o",
            f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        cluster = RunningPostgres(
            f"postgresql+psycopg://boxcert@127.0.0.1:{port}/boxcert",
            lambda: as_owner(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"),
            data,
        )
        try:
            as_owner(
                f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "boxcert", "boxcert"
            )
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
