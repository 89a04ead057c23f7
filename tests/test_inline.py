"""The one-transaction path for a CA that signs in-process (issuer/inline.py): orders handed
over together are stored in one transaction, each judged on its own; and the write gate
(storage/writegate.py) that SQLite's writers take turns through."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from boxcert import naming, pki
from boxcert.issuer.db import database_thread
from boxcert.issuer.errors import Refusal
from boxcert.issuer.inline import InlineObtainer, SignedOrder
from boxcert.issuer.models import Box, Certificate
from boxcert.issuer.obtain import Holder
from boxcert.issuer.store import accounts, boxes
from boxcert.issuer.store.rows import BoxRow
from boxcert.storage.writegate import WriteGate, write_gate
from boxcert.wire import RefusalCode
from tests.issuer_support import (
    ZONE,
    Clock,
    Issuer,
    box_request,
    make_issuer,
    register,
    sessions_for,
)


def _order(issuer: Issuer, db_uuid: str, key: pki.PrivateKey | None = None) -> SignedOrder:
    key = key or pki.make_ec_key()
    label = naming.box_label(pki.spki_der(key.public_key()))
    holder = Holder(label, db_uuid, naming.certificate_names(label, ZONE), True)
    inline = issuer.service.inline
    assert inline is not None
    csr = pki.make_csr(key, holder.names)
    return inline.sign(holder, csr, None, None, f"box-{label}", None)


async def _store_together(inline: InlineObtainer, orders: list[SignedOrder]) -> list[object]:
    """Hand every order over while the database thread is busy, so that one call stores
    them all (as happens under load), and gather each one's outcome."""
    release = threading.Event()
    busy = database_thread().submit(release.wait)
    try:
        tasks = [asyncio.ensure_future(inline.store(order)) for order in orders]
        await asyncio.sleep(0)  # every store() has handed its order over
    finally:
        release.set()
    busy.result()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def _commits(issuer: Issuer) -> list[int]:
    seen: list[int] = []
    event.listen(issuer.sessions.kw["bind"], "commit", lambda _conn: seen.append(1))
    return seen


async def test_orders_handed_over_together_are_stored_in_one_transaction(
    tmp_path: Path,
) -> None:
    issuer = make_issuer(tmp_path, max_boxes_per_database=3)
    issuer.register("db-a", "CODE-A")
    issuer.register("db-b", "CODE-B")
    inline = issuer.service.inline
    assert inline is not None  # the local CA signs in-process
    known = pki.make_ec_key()
    await issuer.service.handle(box_request("db-b", "CODE-B", known))  # a box of db-b

    twice = pki.make_ec_key()
    orders = [
        _order(issuer, "db-a", twice),
        _order(issuer, "db-a"),
        _order(issuer, "db-a", known),  # db-b's box asking for db-a
        _order(issuer, "db-a", twice),  # the same box again, in the same batch
        _order(issuer, "db-a"),
        _order(issuer, "db-a"),  # a fourth new box: over db-a's cap of 3
    ]
    commits = _commits(issuer)
    outcomes = await _store_together(inline, orders)

    assert len(commits) == 1
    stored, again = outcomes[0], outcomes[3]
    assert isinstance(stored, tuple) and stored[1] is False
    assert isinstance(again, tuple) and again == (stored[0], True)  # one certificate, shared
    assert isinstance(outcomes[1], tuple) and isinstance(outcomes[4], tuple)
    assert isinstance(outcomes[2], Refusal)
    assert outcomes[2].code is RefusalCode.BOX_OF_ANOTHER_DATABASE
    assert isinstance(outcomes[5], Refusal)
    assert outcomes[5].code is RefusalCode.BOX_LIMIT_REACHED
    with issuer.sessions() as s:
        boxes_a = s.scalar(select(func.count()).select_from(Box).where(Box.db_uuid == "db-a"))
        certs = s.scalars(select(Certificate.holder_label)).all()
    assert boxes_a == 3  # the refused ones left nothing behind
    assert sorted(certs) == sorted({o.holder.label for o in [*orders[:2], orders[4], orders[2]]})
    issued = [e for e in issuer.events if type(e).__name__ == "CertificateIssued"]
    assert len(issued) == 4  # db-b's box, then three of db-a's: announced once each


async def test_a_database_that_fails_fails_every_order_of_the_batch_and_none_waits(
    tmp_path: Path,
) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register("db-a", "CODE-A")
    inline = issuer.service.inline
    assert inline is not None
    orders = [_order(issuer, "db-a") for _ in range(3)]
    with issuer.sessions.begin() as s:  # a schema that lost a table: every write fails
        s.execute(text("ALTER TABLE certificates RENAME TO certificates_gone"))
    outcomes = await _store_together(inline, orders)
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes


def test_the_gate_excludes_other_processes_and_a_forked_child_has_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3-writers"
    gate = WriteGate(path)
    with gate:
        other = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # another open file: another process
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child, holding a copy of the gate the parent holds
            try:
                fcntl.flock(gate._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.write(write, b"entered")
            except BlockingIOError:
                os.write(write, b"waits")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 16) == b"waits"
    other = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free for anyone
    finally:
        os.close(other)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_gate_is_open_on_a_database_with_its_own_locks() -> None:
    from sqlalchemy import create_engine

    assert write_gate(create_engine("sqlite://")).path is None
    assert write_gate(create_engine("postgresql+psycopg://u@localhost/x")).path is None
    assert write_gate(create_engine("sqlite:////tmp/a.sqlite3")).path == Path(
        "/tmp/a.sqlite3-writers"
    )


async def test_a_batch_costs_the_same_statements_whatever_its_size(
    tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL, a batch locks its databases first, in one statement, then reads and
    writes in one statement per table: a round trip each, not five per order."""
    issuer = make_issuer(tmp_path, url=postgres_url)
    for name in ("db-a", "db-b", "db-c"):
        issuer.register(name, f"CODE-{name}")
    inline = issuer.service.inline
    assert inline is not None
    seen = issuer.statements()
    ends = []
    for dbs in (("db-c", "db-a"), ("db-c", "db-a", "db-c", "db-b") * 3):
        orders = [_order(issuer, db) for db in dbs]
        outcomes = await _store_together(inline, orders)
        assert all(isinstance(o, tuple) and o[1] is False for o in outcomes), outcomes
        ends.append(len(seen))
    issuer.service.close()  # its audit writer, on the same engine, is done
    small, large = (
        [sql for sql in part if "audit_log" not in sql]
        for part in (seen[: ends[0]], seen[ends[0] : ends[1]])
    )
    assert small[0].startswith("SELECT databases.uuid")  # the lock first, then the rest
    assert small[0].endswith("FOR UPDATE")
    assert len(large) == len(small) == 6, large  # lock, 3 reads, 2 inserts
    with issuer.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 14


def test_a_batch_locks_its_databases_in_one_order_on_postgres(postgres_url: str) -> None:
    """Two issuers' batches sharing databases wait for each other, never deadlock: each takes
    its databases' row locks in the order of their uuids, whatever the order asked."""
    sessions = sessions_for(postgres_url)
    for name in ("db-a", "db-b"):
        register(sessions, name, f"CODE-{name}")
    holder_of_b = sessions()
    accounts.lock_databases(holder_of_b, ["db-b"])  # another batch holds db-b
    done = threading.Event()

    def batch() -> None:
        with sessions.begin() as session:
            accounts.lock_databases(session, ["db-b", "db-a"])
        done.set()

    waiting = threading.Thread(target=batch)
    waiting.start()
    try:
        # The batch took db-a, the first in order, and now waits for db-b: a third
        # transaction finds db-a locked. Locking db-b first, it would hold nothing yet.
        for _ in range(200):
            with sessions.begin() as probe:
                try:
                    probe.execute(
                        text("SELECT 1 FROM databases WHERE uuid = 'db-a' FOR UPDATE NOWAIT")
                    )
                except OperationalError:
                    break
            done.wait(0.05)
        else:
            pytest.fail("the batch never took db-a while it waited for db-b")
        assert not done.is_set()
    finally:
        holder_of_b.commit()
        holder_of_b.close()
        waiting.join(10)
    assert done.is_set()
    sessions.kw["bind"].dispose()


async def test_a_batch_notes_a_known_box_at_most_once_an_hour(tmp_path: Path) -> None:
    """A known box's last sighting (and name) is written when the request's read of it is an
    hour old or more, once however many of its orders a batch holds."""
    clock = Clock()
    issuer = make_issuer(tmp_path, clock=clock)
    issuer.register("db-a", "CODE-A")
    inline = issuer.service.inline
    assert inline is not None
    key = pki.make_ec_key()
    await issuer.service.handle(box_request("db-a", "CODE-A", key))
    label = naming.box_label(pki.spki_der(key.public_key()))
    holder = Holder(label, "db-a", naming.certificate_names(label, ZONE), True)
    csr = pki.make_csr(key, holder.names)

    def box() -> BoxRow:
        with issuer.sessions.begin() as session:
            row = boxes.get_box(session, label)
        assert row is not None
        return row

    first = box()
    clock.advance(timedelta(minutes=30))
    soon = [inline.sign(holder, csr, None, None, "renamed", first)]
    await _store_together(inline, soon)
    assert box() == first  # seen half an hour ago: nothing written

    clock.advance(timedelta(hours=1))
    seen = issuer.statements()
    later = [inline.sign(holder, csr, None, None, name, first) for name in ("one", "two")]
    await _store_together(inline, later)
    assert box() == BoxRow(label, "db-a", "two", first.first_seen, clock())  # the last name
    assert len([sql for sql in seen if sql.startswith("UPDATE boxes")]) == 1
