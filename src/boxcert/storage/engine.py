"""Opening a role's database: private data directory, engine, migrations, sessions.

SQLite (a file in the role's data directory) is the default; any SQLAlchemy URL works, and
PostgreSQL (``postgresql+psycopg://``) is what several issuers share. Failures to open or
migrate become :class:`StorageError` with one readable line and the URL without its password.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
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
        # A ping before each use finds connections a server dropped; a SQLite file has no
        # server, and the ping was a statement more in every transaction.
        ping = not url.startswith("sqlite")
        engine = create_engine(url, pool_pre_ping=ping, connect_args=connect_args)
    except Exception as err:  # bad URL, missing driver
        raise StorageError(f"cannot open database {safe_url(url)}: {_first_line(err)}") from err
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrations is not None:
        try:
            upgrade(engine, migrations)
        except SQLAlchemyError as err:
            engine.dispose()
            raise StorageError(f"cannot open database {safe_url(url)}: {_first_line(err)}") from err
    return engine


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
