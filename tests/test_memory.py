"""The memory path (issuer/memory.py): an issuer process learns the holders another process
served from the certificates table (the warm-up), so a box is answered from memory whichever
worker it reaches; what may not be handed out is never warmed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

from boxcert.issuer.errors import Refusal
from boxcert.issuer.hotcache import HotCache
from boxcert.issuer.models import Box
from boxcert.issuer.store import certificates
from boxcert.wire import CertificateRequest
from tests.issuer_support import Issuer, Ticker, box_key, box_request, make_issuer, sqlite_url

DB, CODE = "db-memory", "C-MEMORY-0000001"


def two_issuers(tmp_path: Path) -> tuple[Issuer, Issuer]:
    """Two services (two worker processes, as far as their caches go) on one database."""
    first = make_issuer(tmp_path, cache=HotCache(monotonic=Ticker()))
    first.register(DB, CODE)
    url = sqlite_url(tmp_path)
    second = make_issuer(tmp_path, url=url, cache=HotCache(monotonic=Ticker()))
    return first, second


async def test_a_holder_served_by_one_is_answered_from_memory_by_the_other(
    tmp_path: Path,
) -> None:
    first, second = two_issuers(tmp_path)
    request = box_request(DB, CODE, box_key())
    database_request = CertificateRequest(DB, CODE)
    grant = await first.service.handle(request)
    database_grant = await first.service.handle(database_request)
    for refused in (CertificateRequest("unknown-db", "x"), CertificateRequest(DB, "wrong")):
        with pytest.raises(Refusal):  # the first reads the feed, the second DB's facts
            await second.service.handle(refused)
    second.service.memory.warm()
    assert request.csr_pem is not None
    digest = hashlib.sha256(request.csr_pem.encode()).digest()
    assert second.service.cache.csr_label(digest) is not None
    statements = second.statements()
    assert await second.service.handle(request) == grant
    assert await second.service.handle(database_request) == database_grant
    assert statements == []  # no statement, no CSR verification


async def test_the_warm_up_keeps_to_what_may_be_handed_out(tmp_path: Path) -> None:
    first, second = two_issuers(tmp_path)
    removed, revoked, kept = box_key(), box_key(), box_key()
    for key in (removed, revoked, kept):
        await first.service.handle(box_request(DB, CODE, key))
    with first.sessions.begin() as s:
        certs = certificates.unrevoked_of_database(s, DB, datetime.now(UTC))
        by_label = {c.holder_label: c for c in certs}
        labels = [first.events[i].holder_label for i in (0, 2, 4)]  # issued, granted × 3
        s.execute(delete(Box).where(Box.label == labels[0]))
        certificates.mark_revoked(s, by_label[labels[1]].id, datetime.now(UTC))
    second.service.memory.warm()
    cache = second.service.cache
    assert cache.holder(labels[0]) is None  # its box was removed
    assert cache.holder(labels[1]) is None  # revoked
    assert cache.holder(labels[2]) is not None


async def test_the_warm_up_follows_new_certificates_only_once(tmp_path: Path) -> None:
    first, second = two_issuers(tmp_path)
    await first.service.handle(box_request(DB, CODE))
    second.service.memory.warm()
    statements = second.statements()
    second.service.memory.warm()  # nothing new: one statement that finds nothing
    assert len([s for s in statements if "FROM certificates" in s]) == 1
    await first.service.handle(box_request(DB, CODE))
    second.service.memory.warm()
    assert second.service.cache.sizes()["holders"] == 2


async def test_the_crl_follows_a_revocation_made_by_another_process(tmp_path: Path) -> None:
    """Worker B's CRL is kept a minute, or until the change feed says something changed: a
    revocation through worker A is listed by B once B has read the feed (within 1 s)."""
    from cryptography import x509

    from boxcert.issuer.crl import CrlPublisher
    from boxcert.issuer.hotcache import STALE_BOUND

    ticker = Ticker()
    first = make_issuer(tmp_path, cache=HotCache(monotonic=Ticker()))
    first.register(DB, CODE)
    second = make_issuer(tmp_path, url=sqlite_url(tmp_path), cache=HotCache(monotonic=ticker))
    grant = await first.service.handle(box_request(DB, CODE))
    service = second.service
    crl = CrlPublisher(
        service.sessions, service.ca, service.events, service.clock, service.memory.feed_epoch
    )
    before = await crl.current()
    assert before is not None
    assert not list(x509.load_der_x509_crl(before))
    result = await first.service.revoke_domain(grant.domain)
    assert len(result.revoked) == 1
    ticker.advance(STALE_BOUND)
    after = await crl.current()
    assert after is not None
    listed = [format(entry.serial_number, "x") for entry in x509.load_der_x509_crl(after)]
    assert listed == result.revoked
