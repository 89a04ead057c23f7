"""Opening a role's database: private data directory, engine, migrations, sessions.

SQLite (a file in the role's data directory) is the default; any SQLAlchemy URL works, and
PostgreSQL (``postgresql+psycopg://``) is what several issuers share. Failures to open or
migrate become :class:`StorageError` with one readable line and the URL without its password.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


class StorageError(Exception):
    """A database cannot be opened, reached or migrated; the message is one line to show."""


def prepare_data_dir(data_dir: Path, sqlite_file: str | None) -> None:
    """Make the data dir private (0700) and, for a SQLite file, create that file 0600.

    The directories hold keys and the databases hold secrets (contract codes, token hashes):
    nobody else on the host may read them. SQLite gives its -wal and -shm files the main file's
    mode, so creating the file first is enough.
    """
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        if sqlite_file is None:
            return
        fd = os.open(data_dir / sqlite_file, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            os.fchmod(fd, 0o600)  # also for a file made before this rule
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            side = data_dir / (sqlite_file + suffix)
            if side.exists():
                os.chmod(side, 0o600)
    except OSError as err:
        raise StorageError(f"cannot use data directory {data_dir}: {err.strerror or err}") from err


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (the DNS server) read while a writer writes; the busy timeout makes
    # writers from several processes queue instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: the file is never
    # corrupted, and a power cut may only undo the last commits (SQLite's own advice for
    # WAL). At FULL every commit waited for an fsync: the issuer's first certificates (four
    # commits each) ran at ~90 a second.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_engine(
    url: str, *, migrations: str | None = None, statement_timeout_ms: int | None = None
) -> Engine:
    """Create the engine; with ``migrations`` (an Alembic script location such as
    ``"boxcert.issuer:migrations"``) bring the schema to its newest revision first.

    On PostgreSQL, connecting gives up after 10 s and ``statement_timeout_ms`` bounds every
    statement, so a lost connection cannot hang a caller for the TCP retransmission timeout.
    """
    connect_args: dict[str, object] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = 10
        if statement_timeout_ms is not None:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    try:
        engine = create_engine(url, connect_args=connect_args)
    except Exception as err:  # bad URL, missing driver
        raise StorageError(f"cannot open database {safe_url(url)}: {_first_line(err)}") from err
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        ping_when_idle(engine)
    if migrations is not None:
        try:
            upgrade(engine, migrations)
        except SQLAlchemyError as err:
            engine.dispose()
            raise StorageError(f"cannot open database {safe_url(url)}: {_first_line(err)}") from err
    return engine


IDLE_BEFORE_PING = 1.0  # seconds a pooled connection may rest before it is pinged again


def ping_when_idle(
    engine: Engine,
    idle: float = IDLE_BEFORE_PING,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Ping a pooled connection before use when it has rested more than ``idle`` seconds, and
    replace it when the ping fails (the server restarted, or dropped it).

    SQLAlchemy's ``pool_pre_ping`` pings before every use: a round trip more per transaction,
    which on a busy issuer was a fifth of its trips to PostgreSQL. A connection given back
    moments ago has not been dropped by a server that was there then; should the server go
    away in that moment, the statement fails, SQLAlchemy sees the disconnect and renews the
    whole pool, so only the transactions already under way fail.
    """

    def checkin(_dbapi: Any, record: Any) -> None:
        record.info["rested_since"] = clock()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        rested_since = record.info.pop("rested_since", None)
        if rested_since is None or clock() - rested_since <= idle:
            return  # just connected, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as err:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError(_first_line(err)) from err

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def upgrade(engine: Engine, migrations: str) -> None:
    """Run the Alembic migrations at ``migrations`` up to head, once across processes."""
    # Imported here: the DNS server opens databases but never migrates, and installs without
    # Alembic (`boxcert[dns]`).
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", migrations)
    lock_id = int.from_bytes(hashlib.sha256(migrations.encode()).digest()[:4], "big")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes may start together on one database: one migrates, the rest wait.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({lock_id})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


def _first_line(err: BaseException) -> str:
    """The driver's reason without SQLAlchemy's statement dump and background link."""
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__
