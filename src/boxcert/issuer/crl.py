"""Publishing the CA's certificate revocation list at ``GET /ca/crl`` (DER).

The list is made from the issuer's store (every issuer of a cluster sees the same rows) by the
CA backend itself (:meth:`~boxcert.issuer.ca.CertificateAuthority.revocation_list`; None for a
CA that publishes its own, such as an ACME CA). It is kept for :data:`REFRESH`, until this
issuer revokes something, or until ``changed()`` (the hot cache's epoch, which moves within a
second of a revocation by any issuer or worker) moves; a flood of CRL fetches costs one query
per minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority, RevokedEntry
from boxcert.issuer.db import run_in_session
from boxcert.issuer.events import CertificateRevoked, EventBus
from boxcert.issuer.store import certificates

CRL_PATH = "/ca/crl"
REFRESH = timedelta(minutes=1)


def _reason(value: str) -> x509.ReasonFlags:
    try:
        return x509.ReasonFlags(value)
    except ValueError:
        return x509.ReasonFlags.unspecified


class CrlPublisher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        events: EventBus,
        clock: Clock,
        changed: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.clock = clock
        self.changed = changed
        self._cached: tuple[datetime, bytes | None] | None = None
        self._made_at_change = 0
        self._lock = asyncio.Lock()
        events.subscribe(CertificateRevoked, lambda _: self._forget())

    def _forget(self) -> None:
        self._cached = None

    async def current(self) -> bytes | None:
        """The CRL in DER; None when the CA publishes its own."""
        async with self._lock:
            now = self.clock()
            change = await self.changed() if self.changed is not None else 0
            if (
                self._cached is not None
                and now - self._cached[0] < REFRESH
                and change == self._made_at_change
            ):
                return self._cached[1]
            rows = await run_in_session(
                self.sessions, lambda s: certificates.revoked_for_crl(s, self.ca.name, now)
            )
            entries = [RevokedEntry(serial, at, _reason(reason)) for serial, at, reason in rows]
            der = await asyncio.to_thread(self.ca.revocation_list, entries, now)
            self._cached, self._made_at_change = (now, der), change
            return der
