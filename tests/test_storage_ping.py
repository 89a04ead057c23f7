"""A pooled PostgreSQL connection is pinged before use only after it has rested: a dropped
connection is replaced then, and a busy pool sends no pings (a disconnect found mid-use
renews the pool)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from boxcert.storage.engine import IDLE_BEFORE_PING, open_engine, ping_when_idle


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def engine(postgres_url: str, clock: FakeMonotonic) -> Iterator[Engine]:
    made = create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(made, idle=1.0, clock=clock)
    yield made
    made.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def drop_backend(url: str, pid: int) -> None:
    """The server drops a connection (as a restart or an idle timeout would)."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_rested_connection_the_server_dropped_is_replaced_before_use(
    engine: Engine, postgres_url: str, clock: FakeMonotonic
) -> None:
    first = backend_pid(engine)
    drop_backend(postgres_url, first)
    clock.now += 5  # rested longer than the bound: pinged, found dead, replaced
    second = backend_pid(engine)  # no error for the caller
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    engine: Engine, postgres_url: str, clock: FakeMonotonic
) -> None:
    first = backend_pid(engine)
    drop_backend(postgres_url, first)
    clock.now += 0.5  # within the bound: no ping, so the statement meets the dead connection
    with pytest.raises(OperationalError):
        backend_pid(engine)
    # SQLAlchemy saw the disconnect and renewed the pool: the next caller is served.
    assert backend_pid(engine) not in (first, None)


def test_the_storage_engine_replaces_a_dropped_connection_after_a_rest(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        first = backend_pid(engine)
        drop_backend(postgres_url, first)
        time.sleep(IDLE_BEFORE_PING + 0.2)  # the real clock: rested past the bound
        assert backend_pid(engine) != first
    finally:
        engine.dispose()
