"""Opening the issuer's database: engine, automatic migration, sessions."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.errors import IssuerError

SQLITE_FILE = "issuer.sqlite3"


def prepare_data_dir(data_dir: Path, url: str | None) -> None:
    """Make the data dir private (0700) and, for the default SQLite file, create it 0600.

    The directory holds CA and ACME account keys and the database holds contract codes and the
    compatible exchange's keys: nobody else on the host may read them. SQLite gives its -wal and
    -shm files the main file's mode, so creating the file first is enough.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if not url:
        fd = os.open(data_dir / SQLITE_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            os.fchmod(fd, 0o600)  # also for a file made before this rule
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            side = data_dir / (SQLITE_FILE + suffix)
            if side.exists():
                os.chmod(side, 0o600)


def database_url(data_dir: Path, url: str | None) -> str:
    """The URL given, else a SQLite file in the data directory."""
    if url:
        return url
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets the DNS server read TXT records while the issuer writes; the busy timeout makes
    # writers from several processes queue instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_engine(
    url: str, *, migrate: bool = True, statement_timeout_ms: int | None = None
) -> Engine:
    """Create the engine and bring the schema to the newest migration.

    On PostgreSQL, connecting gives up after 10 s and ``statement_timeout_ms`` bounds every
    statement, so a lost connection cannot hang a caller for the TCP retransmission timeout.
    """
    connect_args: dict[str, object] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = 10
        if statement_timeout_ms is not None:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except Exception as err:  # bad URL, missing driver
        raise IssuerError(f"cannot open database {safe_url(url)}: {err}") from err
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        upgrade(engine)
    return engine


def upgrade(engine: Engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "boxcert.issuer:migrations")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several issuers may start together on one database: one migrates, the rest wait.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7240011)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"
