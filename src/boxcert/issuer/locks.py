"""A lock in the issuer's database: one issuer of a cluster orders for a holder at a time.

Contract (after certmagic's Locker): ``hold(name)`` returns once this process owns ``name``;
whoever takes it must look in storage again, since another issuer may have finished the same
order while it waited. A lock left by a crashed issuer expires after ``ttl``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.issuer.errors import LockTimeout
from boxcert.issuer.store import locks

__all__ = ["LockTimeout", "SqlLocker"]


class SqlLocker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl: timedelta = timedelta(minutes=10),  # longer than any order with its DNS wait
        clock: Clock = system_clock,
        poll: float = 0.2,
    ) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock
        self.poll = poll
        self.owner = secrets.token_hex(8)

    def _try(self, name: str) -> bool:
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                locks.take(session, name, self.owner, now, now + self.ttl)
        except IntegrityError:
            return False  # held by someone else
        return True

    def _release(self, name: str) -> None:
        with self.sessions.begin() as session:
            locks.release(session, name, self.owner)

    @asynccontextmanager
    async def hold(self, name: str, timeout: float) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await asyncio.to_thread(self._try, name):
            if loop.time() >= deadline:
                raise LockTimeout(f"another issuer has been ordering {name} for too long")
            await asyncio.sleep(self.poll)
        try:
            yield
        finally:
            await asyncio.to_thread(self._release, name)
