"""The issuer's service layer in-process, with a CA that answers "rate limited".

Let's Encrypt's rate limits cannot run here and Pebble has none, so the CA is a small stand-in
implementing the CertificateAuthority protocol; everything else (SQLite, eligibility, cache) is
real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from boxcert import naming, pki
from boxcert.issuer import store
from boxcert.issuer.ca import IssuedCertificate
from boxcert.issuer.db import open_engine, session_factory
from boxcert.issuer.errors import RateLimited, Refusal
from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
from boxcert.issuer.service import IssuerService, IssuerSettings
from boxcert.wire import CertificateRequest


class LimitedCA:
    name = "acme"

    def __init__(self, retry_after: datetime) -> None:
        self.calls = 0
        self.retry_after = retry_after

    async def issue(self, csr: x509.CertificateSigningRequest, names: tuple[str, ...],
                    replaces: str | None = None) -> IssuedCertificate:
        self.calls += 1
        raise RateLimited("too many new orders", self.retry_after)

    async def revoke(self, chain_pem: str) -> None:
        return None

    async def renewal_window(self, chain_pem: str) -> datetime | None:
        return None

    async def close(self) -> None:
        return None


def _request() -> CertificateRequest:
    key = pki.make_ec_key()
    names = naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())),
                                     naming.DEFAULT_ZONE)
    return CertificateRequest("db-1", "CODE-1", "box", pki.csr_pem(pki.make_csr(key, names)))


async def test_rate_limit_pauses_all_orders_until_retry_after(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    sessions = session_factory(open_engine(f"sqlite:///{tmp_path / 'i.sqlite3'}"))
    with sessions.begin() as s:
        store.add_subscription(s, "CODE-1", SubscriptionState.IN_PROGRESS, [IOT_BOX_LINE], now[0])
        store.add_database(s, "db-1", DatabaseKind.PRODUCTION, "CODE-1", now[0])
    ca = LimitedCA(retry_after=now[0] + timedelta(minutes=30))
    service = IssuerService(sessions, ca, IssuerSettings(), clock=lambda: now[0])

    with pytest.raises(Refusal) as first:
        await service.handle(_request())
    assert first.value.code == "ca_rate_limited"
    assert "2026-11-26T12:30:00+00:00" in first.value.message
    with pytest.raises(Refusal) as second:
        await service.handle(_request())  # another box: refused without asking the CA
    assert second.value.code == "ca_rate_limited"
    assert ca.calls == 1
    now[0] += timedelta(minutes=31)
    with pytest.raises(Refusal):
        await service.handle(_request())
    assert ca.calls == 2  # after Retry-After the CA is asked again
