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

    async def suggested_renewal(self, chain_pem: str) -> datetime | None:
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


def _service(tmp_path: Path, ca: object, now: list[datetime], **settings: object
             ) -> IssuerService:
    sessions = session_factory(open_engine(f"sqlite:///{tmp_path / 'i.sqlite3'}"))
    with sessions.begin() as s:
        store.add_subscription(s, "CODE-1", SubscriptionState.IN_PROGRESS, [IOT_BOX_LINE], now[0])
        store.add_database(s, "db-1", DatabaseKind.PRODUCTION, "CODE-1", now[0])
    return IssuerService(sessions, ca, IssuerSettings(**settings),  # type: ignore[arg-type]
                         clock=lambda: now[0])


async def test_weekly_cap_counts_new_holders_not_renewals(tmp_path: Path) -> None:
    from boxcert.issuer.ca.local import LocalCA

    now = [datetime.now(UTC)]
    ca = LocalCA(tmp_path / "ca", naming.DEFAULT_ZONE, clock=lambda: now[0])
    ca.name = "acme-test"  # a public CA as far as the cap is concerned
    service = _service(tmp_path, ca, now, weekly_cap_per_domain=1)
    first = _request()
    granted = await service.handle(first)
    with pytest.raises(Refusal) as capped:
        await service.handle(_request())  # a second new holder in the same week
    assert capped.value.code == "ca_rate_limited"
    now[0] += timedelta(days=61)  # the first box's certificate is due: a renewal
    renewed = await service.handle(first)
    assert renewed.x509_pem != granted.x509_pem


async def test_rate_limit_pause_is_per_registered_domain(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    ca = LimitedCA(retry_after=now[0] + timedelta(hours=2))
    service = _service(tmp_path, ca, now, zone_is_public_suffix=True)
    for _ in range(2):
        with pytest.raises(Refusal):
            await service.handle(_request())  # each box its own registered domain
    assert ca.calls == 2  # a pause for one label does not stop the other


async def test_cached_certificate_is_replaced_a_little_before_boxes_ask(tmp_path: Path) -> None:
    """A box asks at two thirds of the lifetime; the issuer must then hand out a new one."""
    from boxcert.issuer.ca.local import LocalCA

    now = [datetime.now(UTC)]
    ca = LocalCA(tmp_path / "ca", naming.DEFAULT_ZONE, clock=lambda: now[0])
    service = _service(tmp_path, ca, now)
    request = _request()
    first = await service.handle(request)
    now[0] += timedelta(days=45)  # half the lifetime: the cache answers
    assert (await service.handle(request)).x509_pem == first.x509_pem
    now[0] += timedelta(days=15)  # day 60, the box's renewal day (a few hours early even)
    now[0] -= timedelta(hours=12)
    assert (await service.handle(request)).x509_pem != first.x509_pem
