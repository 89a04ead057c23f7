"""Turns for the writers of one SQLite file, across processes: a lock taken before a write
transaction begins.

SQLite has one writer at a time. A writer that finds the file locked waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25 … ms and is not woken when the lock is freed:
with two issuer workers writing in turn, the lock stood idle for most of the time they waited
(the workers' CPUs half used, ``bench/fleet_storm.py``). Writers that know they are about to
write (:mod:`boxcert.issuer.inline`) go through this gate first: a threading lock, so one
process's threads queue in memory, then an ``flock`` on a file beside the database, which the
kernel hands to the next process waiting as soon as it is released.

Writers that do not take the gate stay correct: they meet the gated writer on SQLite's own lock
and wait in the busy handler as before. On any other database (PostgreSQL's row locks wake
their waiters) the gate is open.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine


class WriteGate:
    """A context manager: one writer of the file at a time. ``path`` None: always open."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> WriteGate:
        if self.path is None:
            return self
        self._threads.acquire()
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.path is None:
            return
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        # Opened per process: a forked worker must not share its parent's open file, whose
        # flock would then be one lock for both.
        if self._fd is None or self._pid != os.getpid():
            assert self.path is not None
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


def write_gate(engine: Engine) -> WriteGate:
    """The gate of ``engine``'s database: a file beside a SQLite file, else open."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return WriteGate(None)
    if engine.url.database == ":memory:":
        return WriteGate(None)
    return WriteGate(Path(engine.url.database + "-writers"))
