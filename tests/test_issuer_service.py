"""The issuer's coordinator in-process: CA pauses, the weekly cap, the cache's look-ahead,
constant work for unknown uuids, and the events each outcome announces.

Let's Encrypt's rate limits cannot run here and Pebble has none, so "rate limited" comes from
a stand-in CA (tests/issuer_support.py); everything else (SQLite, eligibility, cache) is real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from boxcert import pki
from boxcert.issuer.errors import BadRequest, Refusal
from boxcert.issuer.events import (
    CaPaused,
    CertificateGranted,
    CertificateIssued,
    CertificateRevoked,
    RequestRefused,
)
from boxcert.issuer.hotcache import HotCache
from boxcert.issuer.models import Certificate
from boxcert.wire import CertificateRequest, RefusalCode
from tests.issuer_support import (
    Clock,
    LimitedCA,
    PublicLikeCA,
    Ticker,
    box_csr,
    box_request,
    make_issuer,
)

DB, CODE = "db-1", "CODE-0001"


async def test_rate_limit_pauses_all_orders_until_retry_after(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    ca = LimitedCA(retry_after=clock() + timedelta(minutes=30))
    issuer = make_issuer(tmp_path, ca=ca, clock=clock)
    issuer.register(DB, CODE)

    with pytest.raises(Refusal) as first:
        await issuer.service.handle(box_request(DB, CODE))
    assert first.value.code == RefusalCode.CA_RATE_LIMITED
    assert "2026-11-26T12:30:00+00:00" in first.value.message
    with pytest.raises(Refusal) as second:
        await issuer.service.handle(box_request(DB, CODE))  # another box: the CA is not asked
    assert second.value.code == RefusalCode.CA_RATE_LIMITED
    assert ca.calls == 1
    clock.advance(timedelta(minutes=31))
    with pytest.raises(Refusal):
        await issuer.service.handle(box_request(DB, CODE))
    assert ca.calls == 2  # after Retry-After the CA is asked again
    paused = [e for e in issuer.events if isinstance(e, CaPaused)]
    assert [p.until for p in paused] == [
        datetime(2026, 11, 26, 12, 30, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 32, tzinfo=UTC),
    ]  # 1 min at least


async def test_a_pause_holds_for_a_second_issuer_on_the_same_database(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    first_ca = LimitedCA(retry_after=clock() + timedelta(hours=1))
    first = make_issuer(tmp_path, ca=first_ca, clock=clock)
    first.register(DB, CODE)
    second_ca = LimitedCA(retry_after=None)
    second = make_issuer(tmp_path, ca=second_ca, clock=clock)  # same SQLite file
    with pytest.raises(Refusal):
        await first.service.handle(box_request(DB, CODE))
    with pytest.raises(Refusal) as refused:
        await second.service.handle(box_request(DB, CODE))
    assert refused.value.code == RefusalCode.CA_RATE_LIMITED
    assert second_ca.calls == 0


async def test_weekly_cap_counts_new_holders_not_renewals(tmp_path: Path) -> None:
    clock = Clock()
    ca = PublicLikeCA(tmp_path / "ca", clock)
    issuer = make_issuer(tmp_path, ca=ca, clock=clock, weekly_cap_per_domain=1)
    issuer.register(DB, CODE)
    key = pki.make_ec_key()
    granted = await issuer.service.handle(box_request(DB, CODE, key))
    with pytest.raises(Refusal) as capped:
        await issuer.service.handle(box_request(DB, CODE))  # a second new holder this week
    assert capped.value.code == RefusalCode.CA_RATE_LIMITED
    clock.advance(timedelta(days=61))  # the first box's certificate is due: a renewal
    renewed = await issuer.service.handle(box_request(DB, CODE, key))
    assert renewed.x509_pem != granted.x509_pem
    issued = [e for e in issuer.events if isinstance(e, CertificateIssued)]
    assert [e.renewal for e in issued] == [False, True]


async def test_a_private_ca_has_no_weekly_cap(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path, weekly_cap_per_domain=1)  # the local CA
    issuer.register(DB, CODE)
    for _ in range(3):
        await issuer.service.handle(box_request(DB, CODE))


async def test_rate_limit_pause_is_per_registered_domain(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    ca = LimitedCA(retry_after=clock() + timedelta(hours=2))
    issuer = make_issuer(tmp_path, ca=ca, clock=clock, zone_is_public_suffix=True)
    issuer.register(DB, CODE)
    for _ in range(2):
        with pytest.raises(Refusal):
            await issuer.service.handle(box_request(DB, CODE))  # each box its own domain
    assert ca.calls == 2


async def test_cached_certificate_is_replaced_a_little_before_boxes_ask(tmp_path: Path) -> None:
    """A box asks at two thirds of the lifetime; the issuer must then hand out a new one."""
    clock = Clock()
    issuer = make_issuer(tmp_path, clock=clock)
    issuer.register(DB, CODE)
    key = pki.make_ec_key()
    first = await issuer.service.handle(box_request(DB, CODE, key))
    clock.advance(timedelta(days=45))  # half the lifetime: the cache answers
    assert (await issuer.service.handle(box_request(DB, CODE, key))).x509_pem == first.x509_pem
    clock.advance(timedelta(days=15) - timedelta(hours=12))  # a few hours before day 60
    assert (await issuer.service.handle(box_request(DB, CODE, key))).x509_pem != first.x509_pem


async def test_subject_cn_comes_from_the_store_not_the_chain(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)
    request = CertificateRequest(DB, CODE)
    first = await issuer.service.handle(request)
    assert first.subject_cn.startswith("*.")
    with issuer.sessions.begin() as s:
        s.execute(update(Certificate).values(subject_cn="stored-cn"))
    assert (await issuer.service.handle(request)).subject_cn == "stored-cn"


@pytest.mark.parametrize("with_csr", [True, False])
async def test_unknown_and_known_uuids_cost_the_same_statements(
    tmp_path: Path, with_csr: bool
) -> None:
    # The cache's clock stands still: no background look at the change feed mixes in.
    issuer = make_issuer(tmp_path, cache=HotCache(monotonic=Ticker()))
    issuer.register(DB, CODE, lines=("IoT Box Subscription", "Other", "Third"))
    issuer.register("db-other", "CODE-OTHER")
    csr = box_csr() if with_csr else None
    await issuer.service.handle(box_request("db-other", "CODE-OTHER"))  # the feed is read
    statements = issuer.statements()
    runs: list[list[str]] = []
    # Each uuid's first look costs the same one statement, a repeat costs none: the hot
    # cache keeps "no such database" as it keeps a database's facts.
    for db_uuid, code in (
        (DB, "wrong"),
        ("unknown-db", "wrong"),
        (DB, "wrong"),
        ("unknown-db", CODE),
    ):
        statements.clear()
        with pytest.raises(Refusal) as refused:
            await issuer.service.handle(CertificateRequest(db_uuid, code, "", csr))
        assert refused.value.code == RefusalCode.CREDENTIALS_NOT_RECOGNIZED
        runs.append([s for s in statements if s.lstrip().upper().startswith("SELECT")])
    assert len(runs[0]) == 1  # one query, lines included (no selectin second query)
    assert runs[0] == runs[1]
    assert runs[2] == runs[3] == []


async def test_unauthenticated_bad_csr_is_a_refusal_not_a_400(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)
    with pytest.raises(Refusal):
        await issuer.service.handle(CertificateRequest(DB, "wrong", "", "garbage"))
    with pytest.raises(BadRequest):
        await issuer.service.handle(CertificateRequest(DB, CODE, "", "garbage"))


async def test_events_of_a_request_life(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)
    key = pki.make_ec_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    await issuer.service.handle(box_request(DB, CODE, key))
    with pytest.raises(Refusal):
        await issuer.service.handle(box_request(DB, "wrong"))
    grant = await issuer.service.handle(CertificateRequest(DB, CODE))
    result = await issuer.service.revoke_domain(grant.domain)
    kinds = [type(e).__name__ for e in issuer.events]
    assert kinds == [
        "CertificateIssued",
        "CertificateGranted",
        "CertificateGranted",
        "RequestRefused",
        "CertificateIssued",
        "CertificateGranted",
        "CertificateRevoked",
    ]
    granted = [e for e in issuer.events if isinstance(e, CertificateGranted)]
    assert [g.from_cache for g in granted] == [False, True, False]
    assert [g.for_box for g in granted] == [True, True, False]
    refused = next(e for e in issuer.events if isinstance(e, RequestRefused))
    assert refused.code == RefusalCode.CREDENTIALS_NOT_RECOGNIZED and refused.holder_label is None
    revoked = next(e for e in issuer.events if isinstance(e, CertificateRevoked))
    assert [revoked.serial_hex] == result.revoked and revoked.db_uuid == DB
    assert "wrong" not in repr(issuer.events) and CODE not in repr(issuer.events)


async def test_a_failing_listener_never_breaks_a_request(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    issuer.service.events.subscribe_all(broken)
    grant = await issuer.service.handle(box_request(DB, CODE))
    assert grant.x509_pem
    assert any(isinstance(e, CertificateGranted) for e in issuer.events)
