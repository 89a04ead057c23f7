"""The hot cache (issuer/hotcache.py): a repeated request is answered from memory with no
statement, and every kind of change reaches the answers — at once when made through the
issuer's own sessions, within the staleness bound when made by another process (here a second
engine on the same file, with the cache's monotonic clock moved by hand; and on PostgreSQL,
two real issuers).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from boxcert import pki
from boxcert.issuer import eligibility
from boxcert.issuer.errors import Refusal
from boxcert.issuer.events import CertificateGranted, RequestRefused
from boxcert.issuer.hotcache import FORGET_AFTER, MISSING, REFRESH_EVERY, STALE_BOUND, HotCache
from boxcert.issuer.models import IOT_BOX_LINE, Box, Database, SubscriptionState
from boxcert.issuer.models import DatabaseKind as Kind
from boxcert.issuer.store import accounts, boxes, certificates, changes, removals, settings
from boxcert.wire import CertificateRequest, RefusalCode
from tests.helpers import cli, start_issuer
from tests.issuer_support import (
    Issuer,
    Ticker,
    box_key,
    box_request,
    make_issuer,
    register,
    sessions_for,
)

DB, CODE = "db-hot", "C-HOT-00000001"
NOW = datetime.now(UTC)


def hot(tmp_path: Path, **kw: object) -> tuple[Issuer, Ticker, int]:
    ticker = Ticker()
    issuer = make_issuer(tmp_path, cache=HotCache(monotonic=ticker), **kw)  # type: ignore[arg-type]
    return issuer, ticker, issuer.register(DB, CODE)


def another_process(issuer: Issuer) -> sessionmaker[Session]:
    """A second engine on the issuer's database: its commits are not seen by the cache's
    hook, as a command-line change or another issuer's would not be."""
    return sessions_for(str(issuer.sessions.kw["bind"].url))


def granted(issuer: Issuer) -> list[CertificateGranted]:
    return [e for e in issuer.events if isinstance(e, CertificateGranted)]


@pytest.mark.parametrize("with_csr", [True, False])
async def test_a_repeated_request_runs_no_statement(tmp_path: Path, with_csr: bool) -> None:
    issuer, _, _ = hot(tmp_path)
    request = box_request(DB, CODE) if with_csr else CertificateRequest(DB, CODE)
    first = await issuer.service.handle(request)
    statements = issuer.statements()
    again = await issuer.service.handle(request)
    assert again == first
    assert statements == []
    assert [g.from_cache for g in granted(issuer)] == [False, True]
    assert await issuer.service.answer(request) == await issuer.service.answer(request)


async def test_a_cached_refusal_runs_no_statement_and_is_announced(tmp_path: Path) -> None:
    issuer, _, _ = hot(tmp_path, max_boxes_per_database=5)
    for _ in range(2):
        with pytest.raises(Refusal):
            await issuer.service.handle(CertificateRequest(DB, "wrong code"))
    statements = issuer.statements()
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(CertificateRequest(DB, "wrong code"))
    assert refused.value.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    assert statements == []
    assert len([e for e in issuer.events if isinstance(e, RequestRefused)]) == 3


# --- every kind of change -------------------------------------------------------------------

Change = Callable[[Session, int], object]


def _close(s: Session, sub: int) -> None:
    accounts.set_subscription_state(s, sub, SubscriptionState.CLOSED)


def _no_line(s: Session, sub: int) -> None:
    accounts.set_subscription_lines(s, sub, ["Something else"])


def _staging(s: Session, _sub: int) -> None:
    accounts.set_database_kind(s, DB, Kind.STAGING)


def _duplicate(s: Session, _sub: int) -> None:
    accounts.mark_duplicate(s, DB, datetime.now(UTC))


def _other_subscription(s: Session, _sub: int) -> None:
    codes = settings.contract_codes_of(s)
    other = accounts.add_subscription(
        s,
        codes,
        "C-OTHER-0000001",
        SubscriptionState.IN_PROGRESS,
        [IOT_BOX_LINE],
        datetime.now(UTC),
    )
    accounts.set_database_subscription(s, DB, other.id)


def _removed(s: Session, _sub: int) -> None:
    s.execute(delete(Database).where(Database.uuid == DB))


def _revoke_all(s: Session) -> None:
    now = datetime.now(UTC)
    for cert in certificates.unrevoked_of_database(s, DB, now):
        certificates.mark_revoked(s, cert.id, now, "cessationOfOperation")


def _removed_by_the_verb(s: Session, _sub: int) -> None:
    _revoke_all(s)
    removals.remove_database(s, DB, datetime.now(UTC))


def _subscription_removed(s: Session, sub: int) -> None:
    _removed_by_the_verb(s, sub)
    removals.remove_subscription(s, sub)


REFUSING: dict[str, tuple[Change, RefusalCode]] = {
    "subscription closed": (_close, RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS),
    "IoT line removed": (_no_line, RefusalCode.NO_IOT_BOX_LINE),
    "database made staging": (_staging, RefusalCode.DATABASE_NOT_PRODUCTION),
    "duplicate marked": (_duplicate, RefusalCode.DATABASE_DUPLICATE),
    "database moved to another subscription": (
        _other_subscription,
        RefusalCode.CREDENTIALS_NOT_RECOGNIZED,
    ),
    "database removed": (_removed, RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
    "database removed by `database remove`": (
        _removed_by_the_verb,
        RefusalCode.CREDENTIALS_NOT_RECOGNIZED,
    ),
    "subscription removed with its database": (
        _subscription_removed,
        RefusalCode.CREDENTIALS_NOT_RECOGNIZED,
    ),
}


@pytest.mark.parametrize("via", ["this issuer", "another process"])
@pytest.mark.parametrize("name", list(REFUSING))
@pytest.mark.parametrize("with_csr", [True, False])
async def test_a_change_of_eligibility_is_seen(
    tmp_path: Path, name: str, via: str, with_csr: bool
) -> None:
    issuer, ticker, sub = hot(tmp_path)
    request = box_request(DB, CODE) if with_csr else CertificateRequest(DB, CODE)
    for _ in range(2):
        await issuer.service.handle(request)  # the second from memory
    change, code = REFUSING[name]
    sessions = issuer.sessions if via == "this issuer" else another_process(issuer)
    with sessions.begin() as s:
        change(s, sub)
    if via == "another process":
        ticker.advance(STALE_BOUND)  # the bound: from now on the change must show
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(request)
    assert refused.value.code is code
    with pytest.raises(Refusal):  # and stays, from memory now
        await issuer.service.handle(request)


@pytest.mark.parametrize("via", ["this issuer", "another process"])
async def test_a_revoked_certificate_is_not_handed_out_again(tmp_path: Path, via: str) -> None:
    issuer, ticker, _ = hot(tmp_path)
    request = box_request(DB, CODE)
    first = await issuer.service.handle(request)
    await issuer.service.handle(request)
    sessions = issuer.sessions if via == "this issuer" else another_process(issuer)
    with sessions.begin() as s:
        (cert,) = certificates.unrevoked_of_database(s, DB, datetime.now(UTC))
        assert certificates.mark_revoked(s, cert.id, datetime.now(UTC), "cessation_of_operation")
    if via == "another process":
        ticker.advance(STALE_BOUND)
    renewed = await issuer.service.handle(request)
    assert renewed.x509_pem != first.x509_pem


@pytest.mark.parametrize("forget", [False, True])
@pytest.mark.parametrize("via", ["this issuer", "another process"])
async def test_a_removed_box_registers_again(tmp_path: Path, via: str, forget: bool) -> None:
    issuer, ticker, _ = hot(tmp_path)
    key = box_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    await issuer.service.handle(box_request(DB, CODE, key))  # from memory
    sessions = issuer.sessions if via == "this issuer" else another_process(issuer)
    with sessions.begin() as s:
        if forget:  # `box forget --keep-certificate`
            label = s.scalar(select(Box.label))
            assert label is not None
            removals.forget_box(s, label, datetime.now(UTC), keep_certificate=True)
        else:
            s.execute(delete(Box))
    if via == "another process":
        ticker.advance(STALE_BOUND)
    await issuer.service.handle(box_request(DB, CODE, key))
    with issuer.sessions.begin() as s:
        assert s.scalar(select(Box.label)) is not None  # registration ran again


async def test_a_new_database_ends_no_such_database(tmp_path: Path) -> None:
    issuer, ticker, _ = hot(tmp_path)
    request = CertificateRequest("db-later", "C-LATER-0000001")
    for _ in range(2):
        with pytest.raises(Refusal):
            await issuer.service.handle(request)
    register(another_process(issuer), "db-later", "C-LATER-0000001")
    ticker.advance(STALE_BOUND)
    assert (await issuer.service.handle(request)).x509_pem


async def test_entitlement_back_grants_again(tmp_path: Path) -> None:
    issuer, ticker, sub = hot(tmp_path)
    request = box_request(DB, CODE)
    await issuer.service.handle(request)
    other = another_process(issuer)
    with other.begin() as s:
        _close(s, sub)
    ticker.advance(STALE_BOUND)
    with pytest.raises(Refusal):
        await issuer.service.handle(request)
    with other.begin() as s:
        accounts.set_subscription_state(s, sub, SubscriptionState.IN_PROGRESS)
    ticker.advance(STALE_BOUND)
    assert (await issuer.service.handle(request)).x509_pem


# --- the mechanism --------------------------------------------------------------------------


async def test_past_its_bound_the_cache_reads_the_database(tmp_path: Path) -> None:
    issuer, ticker, _ = hot(tmp_path)
    request = box_request(DB, CODE)
    await issuer.service.handle(request)
    ticker.advance(STALE_BOUND)
    statements = issuer.statements()
    await issuer.service.handle(request)
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert "cache_generation" in reads[0]  # the feed first ...
    assert any("FROM certificates" in s for s in reads)  # ... then the database path


def test_a_read_that_raced_with_a_change_is_not_kept(tmp_path: Path) -> None:
    issuer, ticker, sub = hot(tmp_path)
    cache = issuer.service.cache
    with issuer.sessions.begin() as s:
        cache.refresh(s)
        epoch = cache.epoch()
        facts = accounts.database_facts(s, DB)  # read before the change ...
    with another_process(issuer).begin() as s:
        _close(s, sub)
    ticker.advance(REFRESH_EVERY)
    with issuer.sessions.begin() as s:
        cache.refresh(s)  # ... which the feed reports before the read is stored
    cache.put_facts(epoch, DB, facts)
    assert cache.facts(DB) is MISSING
    cache.put_facts(cache.epoch(), DB, facts)
    assert cache.facts(DB) == facts


def test_only_changes_count(tmp_path: Path) -> None:
    """A row lock taken by a no-op update, a new box, a box seen again and a new certificate
    record nothing (nothing cached can be wrong because of them)."""
    issuer, _, _ = hot(tmp_path)
    now = datetime.now(UTC)
    with issuer.sessions.begin() as s:
        before = changes.generation(s)
        accounts.lock_database(s, DB)
        boxes.add_box(s, "boxlabel0000000a", DB, "one", now)
        boxes.touch_box(s, "boxlabel0000000a", DB, "two", now)
    with issuer.sessions.begin() as s:
        assert changes.generation(s) == before
        accounts.set_database_kind(s, DB, Kind.STAGING)
    with issuer.sessions.begin() as s:
        assert changes.generation(s) == before + 1
        found = changes.changes(s, before, before + 1)
    assert [(c.db_uuid, c.holder_label) for c in found] == [(DB, None)]


def test_after_a_long_silence_everything_is_dropped(tmp_path: Path) -> None:
    issuer, ticker, _ = hot(tmp_path)
    cache = issuer.service.cache
    with issuer.sessions.begin() as s:
        cache.refresh(s)
        cache.put_facts(cache.epoch(), DB, accounts.database_facts(s, DB))
    ticker.advance(FORGET_AFTER + 1)  # the feed may have been pruned meanwhile
    with issuer.sessions.begin() as s:
        cache.refresh(s)
    assert cache.facts(DB) is MISSING


def test_tables_are_bounded() -> None:
    cache = HotCache(max_unknown=3, max_facts=2)
    for n in range(5):
        cache.put_facts(cache.epoch(), f"unknown-{n}", None)
    assert [cache.facts(f"unknown-{n}") for n in range(5)] == [MISSING, MISSING, None, None, None]
    facts = eligibility.DatabaseFacts("u", "production", 1, "d", "in_progress", ())
    for n in range(3):
        cache.put_facts(cache.epoch(), f"db-{n}", facts)
    assert cache.sizes()["facts"] == 2 and cache.facts("db-0") is MISSING


async def test_a_csr_is_known_by_its_exact_bytes(tmp_path: Path) -> None:
    """The label a CSR verified to is kept by the SHA-256 of its bytes: the same bytes are not
    parsed or verified again; other bytes are."""
    issuer, _, _ = hot(tmp_path)
    key = box_key()
    request = box_request(DB, CODE, key)
    assert request.csr_pem is not None
    digest = hashlib.sha256(request.csr_pem.encode()).digest()
    grant = await issuer.service.handle(request)
    assert issuer.service.cache.csr_label(digest) is not None
    statements = issuer.statements()
    assert await issuer.service.handle(request) == grant and statements == []
    changed = CertificateRequest(DB, CODE, "box", request.csr_pem + "\n")  # other bytes
    assert (await issuer.service.handle(changed)).x509_pem == grant.x509_pem
    assert statements != []  # that one was read (and verified) first


def test_the_refresh_interval_is_shorter_than_the_bound() -> None:
    with pytest.raises(ValueError):
        HotCache(refresh_every=1.0, stale_bound=1.0)


# --- two issuers on one PostgreSQL ----------------------------------------------------------


@pytest.mark.slow
def test_closed_on_one_issuer_is_refused_by_another_within_a_second(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two ``issuer serve`` on one PostgreSQL database. The subscription is closed through
    issuer A's admin API; any request that reaches issuer B a second later is refused (B
    answered from its cache until then)."""
    a = start_issuer(tmp_path / "a", "--db", postgres_url, "--workers", "1")
    b = start_issuer(tmp_path / "b", "--db", postgres_url, "--workers", "1")
    try:
        register(sessions_for(postgres_url), DB, CODE)
        status, token = cli(
            "issuer",
            "token",
            "add",
            "--data",
            str(a.data_dir),
            "--db",
            postgres_url,
            "--name",
            "billing",
        )
        assert status == 0, token
        key = pki.make_ec_key()
        request = box_request(DB, CODE, key).to_json()
        with httpx.Client(timeout=30) as client:
            b.settle()  # the database was registered by another process
            for _ in range(3):  # B answers from its cache
                assert "x509_pem" in client.post(b.url + "/iot/x509", json=request).json()["result"]
            bearer = {"Authorization": f"Bearer {token.split()[0]}"}  # the notice follows it
            listed = client.get(a.url + "/api/v1/subscriptions", headers=bearer).json()
            sub_id = listed["subscriptions"][0]["id"]
            closed = client.patch(
                f"{a.url}/api/v1/subscriptions/{sub_id}", json={"state": "closed"}, headers=bearer
            )
            assert closed.status_code == 200, closed.text
            changed_at = time.monotonic()
            seen_after = None
            while seen_after is None and time.monotonic() - changed_at < 10:  # hang guard
                result = client.post(b.url + "/iot/x509", json=request).json()["result"]
                if "error" in result:
                    seen_after = time.monotonic() - changed_at
                    assert result["error"]["code"] == "subscription_not_in_progress"
            assert seen_after is not None
            time.sleep(max(0.0, STALE_BOUND - (time.monotonic() - changed_at)))
            result = client.post(b.url + "/iot/x509", json=request).json()["result"]
            assert result["error"]["code"] == "subscription_not_in_progress"
            print(f"issuer B refused {seen_after * 1000:.0f} ms after the change on issuer A")
    finally:
        a.stop()
        b.stop()
