"""The store's statements for many rows at once (a batch of orders, issuer/inline.py) and the
request's combined read give what the one-row statements give, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.store import accounts, boxes, certificates
from boxcert.issuer.store.rows import BoxRow
from tests.issuer_support import register, sessions_for, sqlite_url
from tests.test_store import _new

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def names(holder: str) -> tuple[str, str]:
    return (f"*.{holder}.z", f"{holder}.z")


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    made = sessions_for(url)
    yield made
    made.kw["bind"].dispose()


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Boxes a, b of db-1 and c of db-2; certificates: a has two (the newer wins), b one
    revoked, c one from another CA, and the database holder d one."""
    register(sessions, "db-1", "CODE-1")
    register(sessions, "db-2", "CODE-2")
    with sessions.begin() as s:
        boxes.add_boxes(
            s,
            [
                BoxRow("a", "db-1", "box-a", NOW, NOW),
                BoxRow("b", "db-1", "box-b", NOW, NOW),
                BoxRow("c", "db-2", "box-c", NOW, NOW),
            ],
        )
        saved = certificates.save_certificates(
            s,
            [
                _new("a", "db-1", NOW, serial_hex="a1", names=names("a")),
                _new("a", "db-1", NOW + timedelta(days=1), serial_hex="a2", names=names("a")),
                _new("b", "db-1", NOW, serial_hex="b1", names=names("b")),
                _new("c", "db-2", NOW, serial_hex="c1", names=names("c"), ca_name="acme-x"),
                _new("d", "db-1", NOW, serial_hex="d1", names=names("d")),
            ],
        )
        assert [c.serial_hex for c in saved] == ["a1", "a2", "b1", "c1", "d1"]  # in order
        assert len({c.id for c in saved}) == 5
        assert certificates.mark_revoked(s, saved[2].id, NOW)
    return sessions


HOLDERS = [  # (label, database): every case of the table
    ("a", "db-1"),  # a box with two certificates
    ("b", "db-1"),  # a box whose only certificate is revoked
    ("c", "db-2"),  # a box whose certificate is another CA's
    ("c", "db-1"),  # a box asked for another database than its own
    ("d", "db-1"),  # not a box: a database's own certificate
    ("e", "db-1"),  # nothing at all
]


def test_the_batch_reads_match_the_one_row_reads(filled: sessionmaker[Session]) -> None:
    with filled.begin() as s:
        keys = {(label, db, names(label)) for label, db in HOLDERS}
        latest = certificates.latest_certificates(s, keys, "local")
        for label, db in HOLDERS:
            one = certificates.latest_certificate(s, label, db, names(label), "local")
            assert latest.get((label, db, names(label))) == one, (label, db)
            assert certificates.box_and_latest(s, label, db, names(label), "local") == (
                boxes.get_box(s, label),
                one,
            )
        assert {k[0]: v.serial_hex for k, v in latest.items()} == {"a": "a2", "d": "d1"}
        found = boxes.get_boxes(s, {label for label, _ in HOLDERS})
        assert found == {label: boxes.get_box(s, label) for label in "abc"}
        assert boxes.count_boxes_of(s, {"db-1", "db-2", "db-3"}) == {
            "db-1": 2,
            "db-2": 1,
            "db-3": 0,
        }
        assert boxes.get_boxes(s, set()) == {} and boxes.count_boxes_of(s, set()) == {}


def test_touching_boxes_writes_when_and_who_never_where(filled: sessionmaker[Session]) -> None:
    later = NOW + timedelta(hours=2)
    with filled.begin() as s:
        boxes.touch_boxes(
            s, [("a", "db-1", "renamed"), ("b", "db-1", ""), ("c", "db-1", "x")], later
        )
    with filled.begin() as s:
        a, b, c = (boxes.get_box(s, label) for label in "abc")
        assert a == BoxRow("a", "db-1", "renamed", NOW, later)
        assert b == BoxRow("b", "db-1", "box-b", NOW, later)  # an empty name keeps the old one
        assert c == BoxRow("c", "db-2", "box-c", NOW, NOW)  # another database's: untouched


def test_locking_databases_reads_their_caps(filled: sessionmaker[Session]) -> None:
    with filled.begin() as s:
        accounts.set_database_max_boxes(s, "db-2", 7)
    with filled.begin() as s:
        locked = accounts.lock_databases(s, ["db-2", "gone", "db-1"])
        assert locked == {
            "db-1": accounts.LockedDatabase(None),
            "db-2": accounts.LockedDatabase(7),
        }
        assert accounts.lock_databases(s, []) == {}
