from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IssuerProcess, start_issuer


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[IssuerProcess]:
    """A real issuer process (local CA, SQLite) on a free loopback port."""
    proc = start_issuer(tmp_path / "issuer")
    yield proc
    proc.stop()


@pytest.fixture
def eligible(issuer: IssuerProcess) -> tuple[str, str]:
    """A production database with an in-progress IoT subscription: (uuid, contract code)."""
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.add_eligible(db_uuid, code)
    return db_uuid, code


# --- PostgreSQL: one cluster per test session, a fresh database per test ---------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    from tests.postgres import pg_bin, postgres_cluster

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with postgres_cluster() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The URL of a new, empty database on the session's PostgreSQL cluster."""
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
