"""Box registration: the policy as a table, and the cap under real concurrency (threads on
SQLite, two issuers on one PostgreSQL) — never more boxes than ``--max-boxes`` or the
database's own cap (``database set-max-boxes``), which applies to the next new box at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from boxcert.issuer.errors import Refusal
from boxcert.issuer.hotcache import HotCache
from boxcert.issuer.models import Box
from boxcert.issuer.registration import Decision, Registrar, box_cap, decide, refusal
from boxcert.issuer.store import accounts, boxes
from boxcert.issuer.store.rows import BoxRow
from boxcert.wire import RefusalCode
from tests.issuer_support import (
    Clock,
    Ticker,
    box_key,
    box_request,
    make_issuer,
    register,
    sessions_for,
    sqlite_url,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _box(db_uuid: str) -> BoxRow:
    return BoxRow("aaaaaaaaaaaaaaaa", db_uuid, "", NOW, NOW)


@pytest.mark.parametrize(
    ("box", "count", "limit", "expected"),
    [
        (None, 0, 3, Decision.NEW),
        (None, 2, 3, Decision.NEW),
        (None, 3, 3, Decision.LIMIT_REACHED),
        (None, 7, 3, Decision.LIMIT_REACHED),
        (_box("db-1"), 3, 3, Decision.KNOWN),  # a known box is served at the cap
        (_box("db-1"), 9, 3, Decision.KNOWN),
        (_box("db-2"), 0, 3, Decision.ANOTHER_DATABASE),
    ],
)
def test_decide(box: BoxRow | None, count: int, limit: int, expected: Decision) -> None:
    assert decide(box, "db-1", count, limit) is expected


def test_refusals() -> None:
    assert refusal(Decision.KNOWN, 3) is None and refusal(Decision.NEW, 3) is None
    another = refusal(Decision.ANOTHER_DATABASE, 3)
    assert another is not None and another.code == RefusalCode.BOX_OF_ANOTHER_DATABASE
    limit = refusal(Decision.LIMIT_REACHED, 3)
    assert limit is not None and limit.code == RefusalCode.BOX_LIMIT_REACHED
    assert "3 boxes" in limit.message


async def test_registrar_writes_only_when_needed(tmp_path: Path) -> None:
    clock = Clock(NOW)
    sessions = sessions_for(sqlite_url(tmp_path))
    register(sessions, "db-1", "C-ONE-00000001", now=NOW)
    register(sessions, "db-2", "C-TWO-00000002", now=NOW)
    registrar = Registrar(sessions, limit=2, clock=clock)
    await registrar.register("label000000000aa", "db-1", "first", None)
    with sessions.begin() as s:
        seen = boxes.get_box(s, "label000000000aa")
    assert seen is not None and seen.identifier == "first" and seen.last_seen == NOW
    clock.advance(timedelta(minutes=30))
    await registrar.register("label000000000aa", "db-1", "second", seen)  # seen recently
    with sessions.begin() as s:
        assert boxes.get_box(s, "label000000000aa") == seen  # nothing written
    clock.advance(timedelta(hours=1))
    await registrar.register("label000000000aa", "db-1", "third", seen)
    with sessions.begin() as s:
        later = boxes.get_box(s, "label000000000aa")
    assert later is not None and later.identifier == "third" and later.last_seen == clock()
    with pytest.raises(Refusal) as moved:
        await registrar.register("label000000000aa", "db-2", "x", later)
    assert moved.value.code == RefusalCode.BOX_OF_ANOTHER_DATABASE
    with pytest.raises(Refusal):  # not even when the caller has not seen the row yet
        await registrar.register("label000000000aa", "db-2", "x", None)
    with sessions.begin() as s:
        assert boxes.get_box(s, "label000000000aa").db_uuid == "db-1"  # type: ignore[union-attr]


async def _race(
    url: str, tmp_path: Path, db_uuid: str, boxes_wanted: int, cap: int, own: int | None = None
) -> tuple[int, int]:
    """``boxes_wanted`` new boxes of one database ask at once, through two issuers on the
    same database (with its own cap ``own``, if given); (grants, box rows of that database)."""
    first = make_issuer(tmp_path / "a", url=url, max_boxes_per_database=cap)
    second = make_issuer(tmp_path / "b", url=url, max_boxes_per_database=cap)
    first.register(db_uuid, f"CODE-{db_uuid}")
    if own is not None:
        with first.sessions.begin() as s:
            accounts.set_database_max_boxes(s, db_uuid, own)
    services = [first.service, second.service]

    async def ask(i: int) -> bool:
        try:
            await services[i % 2].handle(box_request(db_uuid, f"CODE-{db_uuid}"))
        except Refusal as refused:
            assert refused.code == RefusalCode.BOX_LIMIT_REACHED
            return False
        return True

    granted = await asyncio.gather(*(ask(i) for i in range(boxes_wanted)))
    with first.sessions.begin() as s:
        rows = s.scalar(select(func.count()).select_from(Box).where(Box.db_uuid == db_uuid))
    for issuer in (first, second):
        issuer.sessions.kw["bind"].dispose()
    return sum(granted), rows or 0


async def test_cap_holds_under_concurrency_on_sqlite(tmp_path: Path) -> None:
    for round_ in range(3):
        result = await _race(sqlite_url(tmp_path), tmp_path, f"db-{round_}", 16, cap=3)
        assert result == (3, 3)


async def test_cap_holds_under_concurrency_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    for round_ in range(3):
        result = await _race(postgres_url, tmp_path, f"db-{round_}", 16, cap=3)
        assert result == (3, 3)


@pytest.mark.parametrize("own", [5, 1])
async def test_a_database_cap_holds_under_concurrency_on_sqlite(tmp_path: Path, own: int) -> None:
    result = await _race(sqlite_url(tmp_path), tmp_path, "db-own", 16, cap=3, own=own)
    assert result == (own, own)


@pytest.mark.parametrize("own", [5, 1])
async def test_a_database_cap_holds_under_concurrency_on_postgresql(
    tmp_path: Path, postgres_url: str, own: int
) -> None:
    result = await _race(postgres_url, tmp_path, f"db-own-{own}", 16, cap=3, own=own)
    assert result == (own, own)


@pytest.mark.parametrize(
    ("own", "default", "expected"), [(None, 100, 100), (5, 100, 5), (0, 100, 0), (500, 3, 500)]
)
def test_box_cap(own: int | None, default: int, expected: int) -> None:
    assert box_cap(own, default) == expected


def test_a_cap_of_zero_is_said_so() -> None:
    refused = refusal(Decision.LIMIT_REACHED, 0)
    assert refused is not None and "no new boxes" in refused.message


async def test_a_changed_cap_applies_to_the_next_new_box_at_once(tmp_path: Path) -> None:
    """The cap is read under the lock, never cached: a change made by another process counts
    for the very next new box, with the hot cache's clock standing still."""
    issuer = make_issuer(tmp_path, cache=HotCache(monotonic=Ticker()), max_boxes_per_database=9)
    issuer.register("db-cap", "CODE-db-cap")
    other = sessions_for(str(issuer.sessions.kw["bind"].url))
    with other.begin() as s:
        accounts.set_database_max_boxes(s, "db-cap", 1)
    known = box_key()
    await issuer.service.handle(box_request("db-cap", "CODE-db-cap", known))
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(box_request("db-cap", "CODE-db-cap"))
    assert (
        refused.value.code is RefusalCode.BOX_LIMIT_REACHED and "1 boxes" in refused.value.message
    )
    with other.begin() as s:
        accounts.set_database_max_boxes(s, "db-cap", 0)
    await issuer.service.handle(box_request("db-cap", "CODE-db-cap", known))  # known: served
    with other.begin() as s:
        accounts.set_database_max_boxes(s, "db-cap", None)  # the issuer's 9 again
    await issuer.service.handle(box_request("db-cap", "CODE-db-cap"))


async def test_a_removed_database_registers_no_box(tmp_path: Path) -> None:
    sessions = sessions_for(sqlite_url(tmp_path))
    registrar = Registrar(sessions, limit=2, clock=Clock(NOW))
    with pytest.raises(Refusal) as refused:
        await registrar.register("label000000000aa", "db-never", "x", None)
    assert refused.value.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    with sessions.begin() as s:
        assert boxes.get_box(s, "label000000000aa") is None
