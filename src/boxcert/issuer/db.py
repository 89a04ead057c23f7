"""Opening the issuer's database: the shared storage engine with the issuer's migrations."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.errors import IssuerError
from boxcert.storage import engine as storage
from boxcert.storage.engine import StorageError, safe_url

__all__ = [
    "MIGRATIONS",
    "SQLITE_FILE",
    "database_thread",
    "database_url",
    "in_database_thread",
    "open_engine",
    "prepare_data_dir",
    "reading_sessions",
    "run_in_session",
    "safe_url",
    "session_factory",
]

T = TypeVar("T")

SQLITE_FILE = "issuer.sqlite3"
MIGRATIONS = "boxcert.issuer:migrations"


def prepare_data_dir(data_dir: Path, url: str | None) -> None:
    """The data dir 0700; the default SQLite file 0600 (see :mod:`boxcert.storage.engine`)."""
    try:
        storage.prepare_data_dir(data_dir, None if url else SQLITE_FILE)
    except StorageError as err:
        raise IssuerError(str(err)) from err


def database_url(data_dir: Path, url: str | None) -> str:
    """The URL given, else a SQLite file in the data directory."""
    return url or storage.sqlite_url(data_dir / SQLITE_FILE)


def open_engine(
    url: str, *, migrate: bool = True, statement_timeout_ms: int | None = None
) -> Engine:
    """The issuer's engine, its schema at the newest migration unless ``migrate`` is False."""
    try:
        return storage.open_engine(
            url,
            migrations=MIGRATIONS if migrate else None,
            statement_timeout_ms=statement_timeout_ms,
        )
    except StorageError as err:
        raise IssuerError(str(err)) from err


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return storage.session_factory(engine)


def reading_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on the same database whose statements each commit on their own, for a
    request's reads: on PostgreSQL a transaction costs two round trips more (BEGIN, COMMIT),
    and its statements see a snapshot each anyway (READ COMMITTED). Whatever must hold
    together is judged again under a row lock in a transaction of ``sessions``."""
    engine: Engine = sessions.kw["bind"]
    return storage.session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def run_in_session(sessions: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one transaction on the database thread (the event loop never blocks on
    SQL); committed when ``fn`` returns, rolled back when it raises."""

    def run() -> T:
        with sessions.begin() as session:
            return fn(session)

    return await in_database_thread(run)


# One thread per process does the database work, not asyncio's pool of (cores + 4). Every
# call releases and takes back the GIL; with six threads doing so for a hundred requests in
# flight, the handing over of the GIL cost more CPU than the statements: a storm of first
# certificates went at 374 a second with the pool, 591 with one thread (PostgreSQL: 182 and
# 289), see docs/performance.md. Blocking work that is not the database's (an ACME order)
# keeps asyncio's pool.
_threads: tuple[int, ThreadPoolExecutor] | None = None


def database_thread() -> ThreadPoolExecutor:
    """This process's database thread (made on first use, again in a forked child)."""
    global _threads
    if _threads is None or _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="database"))
    return _threads[1]


async def in_database_thread(fn: Callable[[], T]) -> T:
    """``await asyncio.to_thread(fn)``, on the database thread."""
    call = functools.partial(contextvars.copy_context().run, fn)
    return await asyncio.get_running_loop().run_in_executor(database_thread(), call)
