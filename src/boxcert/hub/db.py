"""Opening the hub's database: the shared storage engine with the hub's own migrations."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from boxcert.hub.errors import HubError
from boxcert.storage import engine as storage
from boxcert.storage.engine import StorageError

SQLITE_FILE = "hub.sqlite3"
MIGRATIONS = "boxcert.hub:migrations"


def open_database(data_dir: Path, url: str | None) -> tuple[Engine, sessionmaker[Session]]:
    """The data dir made private, the schema migrated; ``url`` else a SQLite file in DIR."""
    try:
        storage.prepare_data_dir(data_dir, None if url else SQLITE_FILE)
        engine = storage.open_engine(
            url or storage.sqlite_url(data_dir / SQLITE_FILE), migrations=MIGRATIONS
        )
    except StorageError as err:
        raise HubError(str(err)) from err
    return engine, storage.session_factory(engine)
