"""Publishing the CA's certificate revocation list at ``GET /ca/crl`` (DER).

The list is made from the issuer's store (every issuer of a cluster sees the same rows) by the
CA backend itself (:meth:`~boxcert.issuer.ca.CertificateAuthority.revocation_list`; None for a
CA that publishes its own, such as an ACME CA). It is kept for :data:`REFRESH` or until this
issuer revokes something, so a flood of CRL fetches costs one query per minute.
"""

from __future__ import annotations

import asyncio
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
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.clock = clock
        self._cached: tuple[datetime, bytes | None] | None = None
        self._lock = asyncio.Lock()
        events.subscribe(CertificateRevoked, lambda _: self._forget())

    def _forget(self) -> None:
        self._cached = None

    async def current(self) -> bytes | None:
        """The CRL in DER; None when the CA publishes its own."""
        async with self._lock:
            now = self.clock()
            if self._cached is not None and now - self._cached[0] < REFRESH:
                return self._cached[1]
            rows = await run_in_session(
                self.sessions, lambda s: certificates.revoked_for_crl(s, self.ca.name, now)
            )
            entries = [RevokedEntry(serial, at, _reason(reason)) for serial, at, reason in rows]
            der = await asyncio.to_thread(self.ca.revocation_list, entries, now)
            self._cached = (now, der)
            return der
