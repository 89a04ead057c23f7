"""The hub's Alembic migrations produce exactly the schema its models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from boxcert.hub.db import open_database
from boxcert.hub.models import Base


def test_models_match_migrations(tmp_path: Path) -> None:
    engine, _ = open_database(tmp_path / "hub", None)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "hub_alembic_version"})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert "hub_alembic_version" in tables and "alembic_version" not in tables


def test_the_data_dir_and_database_are_private(tmp_path: Path) -> None:
    open_database(tmp_path / "hub", None)[0].dispose()
    open_database(tmp_path / "hub", None)[0].dispose()  # twice is harmless
    assert (tmp_path / "hub").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "hub" / "hub.sqlite3").stat().st_mode & 0o777 == 0o600
