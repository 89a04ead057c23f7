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


def _logging_state() -> tuple[list[object], int, list[object], int]:
    import logging

    root, ours = logging.getLogger(), logging.getLogger("boxcert")
    return (list(root.handlers), root.level, list(ours.handlers), ours.level)


_LOGGING_AT_START = _logging_state()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """In-process CLI runs configure logging (levels, a stderr handler), in tests and in
    module fixtures alike: put it back as it was when the session started after each test, so
    one test's ``--log-level`` never decides what the next one's caplog sees."""
    import logging

    yield
    root, ours = logging.getLogger(), logging.getLogger("boxcert")
    handlers, level, our_handlers, our_level = _LOGGING_AT_START
    for handler in ours.handlers:
        if handler not in our_handlers:
            handler.close()
    for handler in list(root.handlers):
        if getattr(handler, "_boxcert_stderr", False) and handler not in handlers:
            root.removeHandler(handler)
    ours.handlers[:] = our_handlers  # type: ignore[assignment]
    root.setLevel(level)
    ours.setLevel(our_level)
