"""The listings' pages in the store (store.removals.list_boxes, store.certificates.listing):
keyset order on SQLite and PostgreSQL, and a page's certificates read for its boxes only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.store import boxes, certificates, removals
from boxcert.issuer.store.rows import BoxRow
from tests.issuer_support import register
from tests.test_store import _new
from tests.test_store_batch import sessions  # noqa: F401  (the SQLite/PostgreSQL fixture)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# Seven boxes across two databases; first_seen ties (b, c) and microseconds (d, e) on purpose.
BOXES = [
    BoxRow("c", "db-1", "box-c", NOW, NOW),
    BoxRow("b", "db-1", "box-b", NOW, NOW),
    BoxRow("a", "db-1", "box-a", NOW + timedelta(hours=1), NOW),
    BoxRow("e", "db-1", "box-e", NOW - timedelta(microseconds=1), NOW),
    BoxRow("d", "db-2", "box-d", NOW + timedelta(microseconds=1), NOW),
    BoxRow("g", "db-2", "box-g", NOW - timedelta(days=400), NOW),
    BoxRow("f", "db-2", "box-f", NOW, NOW),
]
IN_ORDER = ["e", "b", "c", "a", "g", "f", "d"]


@pytest.fixture
def fleet(sessions: sessionmaker[Session]) -> sessionmaker[Session]:  # noqa: F811
    register(sessions, "db-1", "CODE-1")
    register(sessions, "db-2", "CODE-2")
    with sessions.begin() as s:
        boxes.add_boxes(s, BOXES)
        certificates.save_certificates(
            s,
            [_new(b.label, b.db_uuid, NOW, serial_hex=f"{b.label}1") for b in BOXES]
            + [_new("a", "db-1", NOW + timedelta(days=1), serial_hex="a2")]  # a's newest
            + [_new("f", "db-1", NOW, serial_hex="f9")],  # f's label, another database
        )
    return sessions


def pages(
    s: Session, db_uuid: str | None, limit: int, now: datetime = NOW
) -> Iterator[list[removals.BoxListing]]:
    after: removals.BoxKey | None = None
    while page := removals.list_boxes(s, db_uuid, now, limit=limit, after=after):
        yield page
        after = removals.key_of(page[-1].box)


def test_following_the_pages_lists_every_box_once_in_order(
    fleet: sessionmaker[Session],
) -> None:
    with fleet.begin() as s:
        everything = removals.list_boxes(s, None, NOW)
        assert [b.box.label for b in everything] == IN_ORDER
        paged = [b for page in pages(s, None, 3) for b in page]
        assert paged == everything
        assert [len(p) for p in pages(s, None, 3)] == [3, 3, 1]
        in_db_2 = [b.box.label for page in pages(s, "db-2", 2) for b in page]
        assert in_db_2 == ["g", "f", "d"]
    newest = {b.box.label: b.certificate.serial_hex for b in everything if b.certificate}
    assert newest == {b.label: f"{b.label}1" for b in BOXES} | {"a": "a2"}


def test_after_the_last_box_there_is_nothing(fleet: sessionmaker[Session]) -> None:
    with fleet.begin() as s:
        last = removals.list_boxes(s, None, NOW)[-1].box
        assert removals.list_boxes(s, None, NOW, after=removals.key_of(last)) == []
        # a position between two boxes (no such box): the boxes after it
        between = ("db-1", NOW + timedelta(minutes=1), "a")
        assert [b.box.label for b in removals.list_boxes(s, None, NOW, after=between)] == [
            "a",
            "g",
            "f",
            "d",
        ]


def test_a_page_reads_the_certificates_of_its_boxes_only(
    fleet: sessionmaker[Session],
) -> None:
    with fleet.begin() as s:
        statements: list[tuple[str, Any]] = []

        def seen(conn: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
            statements.append((sql, params))

        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            page = removals.list_boxes(s, None, NOW, limit=2, after=("db-1", NOW, "b"))
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert [b.box.label for b in page] == ["c", "a"]
    reads = [(sql, params) for sql, params in statements if "FROM certificates" in sql]
    assert len(reads) == 1
    bound = str(reads[0][1])
    assert "'c'" in bound and "'a'" in bound
    assert not any(f"'{other}'" in bound for other in "bdefg")


def test_expired_and_revoked_certificates_are_not_a_box_s(
    fleet: sessionmaker[Session],
) -> None:
    with fleet.begin() as s:
        (a2,) = certificates.by_serial(s, "a2")
        certificates.mark_revoked(s, a2.id, NOW)
        later = NOW + timedelta(days=89)  # the ...1 certificates are valid until NOW + 90 d
        (a,) = removals.list_boxes(s, "db-1", later, limit=1, after=("db-1", NOW, "c"))
        assert a.certificate is not None and a.certificate.serial_hex == "a1"
        (gone,) = removals.list_boxes(s, "db-1", NOW + timedelta(days=91), limit=1)
        assert gone.certificate is None


def test_certificates_newest_first_page_by_page(fleet: sessionmaker[Session]) -> None:
    with fleet.begin() as s:
        certificates.mark_revoked(s, certificates.by_serial(s, "b1")[0].id, NOW)
        for revoked in (None, True, False):
            everything = certificates.listing(s, revoked=revoked, limit=100)
            paged: list[str] = []
            before: int | None = None
            while page := certificates.listing(s, revoked=revoked, limit=3, before_id=before):
                paged += [c.serial_hex for c in page]
                before = page[-1].id
            assert paged == [c.serial_hex for c in everything], revoked
        ids = [c.id for c in certificates.listing(s, db_uuid="db-2", limit=100)]
        assert ids == sorted(ids, reverse=True) and len(ids) == 3
        older = certificates.listing(s, limit=100, before_id=ids[1])
        assert older and all(c.id < ids[1] for c in older)


def test_a_listing_of_every_box_reads_certificates_in_chunks(
    fleet: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's `box list` lists every box at once: labels go to the database in chunks."""
    with fleet.begin() as s:
        whole = removals.list_boxes(s, None, NOW)
        monkeypatch.setattr(removals, "_LABELS_PER_READ", 2)
        assert removals.list_boxes(s, None, NOW) == whole
