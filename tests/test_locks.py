"""The issuance lock in the database: one holder at a time across lockers (as across issuers),
expiry of a crashed holder's lock, release on error."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.errors import LockTimeout
from boxcert.issuer.locks import SqlLocker
from boxcert.issuer.models import IssuanceLock
from tests.issuer_support import Clock, sessions_for, sqlite_url


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return sessions_for(sqlite_url(tmp_path))


async def test_one_holder_at_a_time(sessions: sessionmaker[Session]) -> None:
    a, b = SqlLocker(sessions, poll=0.01), SqlLocker(sessions, poll=0.01)
    order: list[str] = []
    a_holds = asyncio.Event()
    release_a = asyncio.Event()

    async def first() -> None:
        async with a.hold("issue:x", timeout=30):
            order.append("a in")
            a_holds.set()
            await release_a.wait()
            order.append("a out")

    async def second() -> None:
        await a_holds.wait()
        waiting = asyncio.create_task(_take(b, "issue:x", order))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # b waits while a holds
        release_a.set()
        await waiting

    await asyncio.gather(first(), second())
    assert order == ["a in", "a out", "b in"]


async def _take(locker: SqlLocker, name: str, order: list[str]) -> None:
    async with locker.hold(name, timeout=30):
        order.append("b in")


async def test_other_names_are_independent(sessions: sessionmaker[Session]) -> None:
    a, b = SqlLocker(sessions), SqlLocker(sessions)
    async with a.hold("issue:x", timeout=5), b.hold("issue:y", timeout=5):
        pass


async def test_timeout_when_held_too_long(sessions: sessionmaker[Session]) -> None:
    a, b = SqlLocker(sessions, poll=0.01), SqlLocker(sessions, poll=0.01)
    async with a.hold("issue:x", timeout=5):
        with pytest.raises(LockTimeout, match="issue:x"):
            async with b.hold("issue:x", timeout=0.05):
                pass


async def test_a_crashed_holders_lock_expires(sessions: sessionmaker[Session]) -> None:
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    with sessions.begin() as s:  # taken by an issuer that died before releasing it
        s.add(
            IssuanceLock(name="issue:x", owner="dead", expires_at=clock() + timedelta(minutes=10))
        )
    later = SqlLocker(sessions, ttl=timedelta(minutes=10), clock=clock, poll=0.01)
    with pytest.raises(LockTimeout):
        async with later.hold("issue:x", timeout=0.05):
            pass
    clock.advance(timedelta(minutes=11))
    async with later.hold("issue:x", timeout=5):
        pass


async def test_released_when_the_body_fails(sessions: sessionmaker[Session]) -> None:
    a, b = SqlLocker(sessions), SqlLocker(sessions)
    with pytest.raises(RuntimeError):
        async with a.hold("issue:x", timeout=5):
            raise RuntimeError("order failed")
    async with b.hold("issue:x", timeout=0.5):
        pass
