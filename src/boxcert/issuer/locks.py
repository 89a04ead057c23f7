"""A lock in the issuer's database: one issuer of a cluster orders for a holder at a time.

Contract (after certmagic's Locker): ``hold(name)`` returns once this process owns ``name``;
whoever takes it must look in storage again, since another issuer may have finished the same
order while it waited. A lock left by a crashed issuer expires after ``ttl``.

To save round trips on the path that orders a certificate, ``hold(name, read=fn)`` runs
``fn`` in the transaction that takes the lock (the look in storage again) and gives its
result as :attr:`HeldLock.found`; and :meth:`HeldLock.release_in` releases the lock in the
caller's own transaction (the one that stores the order's result), after which leaving
``hold`` has nothing left to do.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.issuer.db import in_database_thread
from boxcert.issuer.errors import LockTimeout
from boxcert.issuer.store import locks

__all__ = ["HeldLock", "LockTimeout", "SqlLocker"]


@dataclass
class HeldLock:
    """A lock this process holds: what ``read`` found when taking it."""

    name: str
    owner: str
    found: Any = None
    released: bool = False

    def release_in(self, session: Session) -> None:
        """Release in ``session``'s transaction; call :meth:`released_now` once it committed."""
        locks.release(session, self.name, self.owner)

    def released_now(self) -> None:
        self.released = True


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

    def _try(self, held: HeldLock, read: Callable[[Session], Any] | None) -> bool:
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                locks.take(session, held.name, self.owner, now, now + self.ttl)
                if read is not None:
                    held.found = read(session)
        except IntegrityError:
            return False  # held by someone else
        return True

    def _release(self, name: str) -> None:
        with self.sessions.begin() as session:
            locks.release(session, name, self.owner)

    @asynccontextmanager
    async def hold(
        self, name: str, timeout: float, *, read: Callable[[Session], Any] | None = None
    ) -> AsyncIterator[HeldLock]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        held = HeldLock(name, self.owner)
        while not await in_database_thread(lambda: self._try(held, read)):
            if loop.time() >= deadline:
                raise LockTimeout(f"another issuer has been ordering {name} for too long")
            await asyncio.sleep(self.poll)
        try:
            yield held
        finally:
            if not held.released:
                await in_database_thread(lambda: self._release(name))
