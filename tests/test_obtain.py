"""The obtain flow: when a cached certificate is still handed out (a table), one CA order for
many concurrent requests, and CA failures as refusals that say so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from boxcert.issuer.ca import IssuedCertificate
from boxcert.issuer.errors import CertificateAuthorityError, Refusal
from boxcert.issuer.events import CertificateIssued
from boxcert.issuer.obtain import is_fresh, subject_cn
from boxcert.issuer.store.rows import StoredCertificate
from boxcert.wire import CertificateRequest, RefusalCode
from tests.issuer_support import ZONE, Clock, PublicLikeCA, box_request, make_issuer

START = datetime(2026, 1, 1, tzinfo=UTC)


def _cert(days: int = 90, renew_after: datetime | None = None) -> StoredCertificate:
    return StoredCertificate(
        id=1,
        holder_label="h",
        db_uuid="d",
        names=("*.h.z", "h.z"),
        subject_cn="*.h.z",
        chain_pem="",
        private_key_pem=None,
        serial_hex="1",
        ca_name="local",
        registered_domain="z",
        not_before=START,
        not_after=START + timedelta(days=days),
        renew_after=renew_after,
        ari_id=None,
        issued_at=START,
        replaces_id=None,
        revoked_at=None,
    )


@pytest.mark.parametrize(
    ("cert", "at", "fresh"),
    [
        (None, START, False),
        (_cert(), START, True),
        (_cert(), START + timedelta(days=45), True),
        (_cert(), START + timedelta(days=53, hours=23), True),  # 60 - 90/15 days, minus 1 h
        (_cert(), START + timedelta(days=54, hours=1), False),
        (_cert(), START + timedelta(days=89), False),
        (_cert(), START + timedelta(days=91), False),
        (_cert(days=45), START + timedelta(days=26), True),
        (_cert(days=45), START + timedelta(days=28), False),
        # the CA's renewal window (ARI) comes first
        (_cert(renew_after=START + timedelta(days=20)), START + timedelta(days=10), True),
        (_cert(renew_after=START + timedelta(days=20)), START + timedelta(days=15), False),
    ],
)
def test_is_fresh(cert: StoredCertificate | None, at: datetime, fresh: bool) -> None:
    assert is_fresh(cert, at) is fresh


def test_subject_cn_falls_back_on_an_unreadable_chain() -> None:
    assert subject_cn("not a chain", "*.h.z") == "*.h.z"


async def test_many_requests_make_one_order(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register("db-1", "CODE-0001")
    request = CertificateRequest("db-1", "CODE-0001")
    grants = await asyncio.gather(*(issuer.service.handle(request) for _ in range(20)))
    assert len({g.x509_pem for g in grants}) == 1
    assert len([e for e in issuer.events if isinstance(e, CertificateIssued)]) == 1


async def test_two_issuers_on_one_database_order_once(tmp_path: Path) -> None:
    first = make_issuer(tmp_path)
    second = make_issuer(tmp_path)  # same SQLite file and CA directory
    first.register("db-1", "CODE-0001")
    request = CertificateRequest("db-1", "CODE-0001")
    grants = await asyncio.gather(
        *(issuer.service.handle(request) for issuer in [first, second] * 10)
    )
    assert len({g.x509_pem for g in grants}) == 1
    issued = [e for i in (first, second) for e in i.events if isinstance(e, CertificateIssued)]
    assert len(issued) == 1


class FailingCA(PublicLikeCA):
    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        raise CertificateAuthorityError("the CA is down")


async def test_ca_failure_is_a_refusal_that_says_so_without_vendor_internals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    issuer = make_issuer(tmp_path, ca=FailingCA(tmp_path / "ca", clock), clock=clock)
    issuer.register("db-1", "CODE-0001")
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(box_request("db-1", "CODE-0001"))
    assert refused.value.code == RefusalCode.CA_FAILED
    message = refused.value.message
    assert "the CA is down" not in message  # the CA's own words stay with the vendor
    reference = message.split("(reference ", 1)[1].split(")", 1)[0]
    logged = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert len(logged) == 1 and "the CA is down" in logged[0]


async def test_renewals_replace_the_previous_certificate(tmp_path: Path) -> None:
    clock = Clock()
    ca = PublicLikeCA(tmp_path / "ca", clock)
    issuer = make_issuer(tmp_path, ca=ca, clock=clock)
    issuer.register("db-1", "CODE-0001")
    request = CertificateRequest("db-1", "CODE-0001")
    first = await issuer.service.handle(request)
    issuer.clock.advance(timedelta(days=60))
    second = await issuer.service.handle(request)
    assert second.x509_pem != first.x509_pem
    assert len(ca.orders) == 2
    assert second.domain.endswith(ZONE)
