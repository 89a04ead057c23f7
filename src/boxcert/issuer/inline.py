"""Ordering from a CA that signs in this process (the local CA): one transaction.

The general path (:mod:`.obtain`) is built for a CA order that takes seconds: a cluster-wide
lock row, taken and released in transactions of their own around the wait, and the box
registered before it in another. A CA that signs in-process
(:class:`~boxcert.issuer.ca.SigningAuthority`) needs none of that. The certificate is signed
first, outside any lock (a signature nobody stores is never handed out, so losing a race
costs only the CPU), then one transaction:

1. goes through the database's write gate (:mod:`boxcert.storage.writegate`: SQLite's
   writers take turns without sleeping in its busy handler) and takes the database's row
   lock (:func:`~.store.accounts.lock_database`: PostgreSQL's row lock, SQLite's write
   lock), which also reads the database's box cap. A holder (a box's key, or a database's)
   belongs to one database, so every request of one holder, on any issuer of a cluster,
   waits on the same lock: this is the single-flight. A batch takes all its databases' rows
   first, in sorted order, so two issuers' batches wait for each other, never deadlock;
2. registers the box under it (:meth:`.registration.Registrar.register_locked`: the same
   decision as the general path; a refusal is decided before anything of the order is
   written);
3. looks in storage again: a fresh certificate stored while we waited is handed out, ours is
   dropped;
4. reads and judges the order limits (:class:`.limits.OrderLimits`), for a CA that has any;
5. stores the certificate.

Orders are stored in batches (group commit): a request signs on the database thread right
after its read (:meth:`InlineObtainer.sign`) and hands the signed certificate to
:meth:`InlineObtainer.store`; the first one queues a call on the database thread that stores
every order handed over by the time it runs, in that one transaction, each order judged on
its own (a refusal for one stores nothing of it and nothing else changes). A box's first
certificate so costs the request's read and a share of one write, where the general path
takes four transactions and five thread hops: a fleet's first morning goes at the pace of the
CPU rather than of the database's write lock (``bench/fleet_storm.py``).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer import registration
from boxcert.issuer.ca import IssuedCertificate, SigningAuthority
from boxcert.issuer.db import database_thread
from boxcert.issuer.errors import CertificateAuthorityError, Refusal
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.obtain import Holder, Obtainer, is_fresh, request_of
from boxcert.issuer.registration import Registrar
from boxcert.issuer.store import accounts, certificates
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.storage.writegate import write_gate


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """A certificate signed for a holder, waiting to be stored (or dropped)."""

    holder: Holder
    issued: IssuedCertificate
    key_pem: str | None  # the key made for a database's no-CSR exchange
    csr_sha256: str | None
    identifier: str
    seen: BoxRow | None  # the box as the request read it (None: unknown, or not a box)


Stored = tuple[StoredCertificate, bool]  # the certificate, and whether it was stored before


class InlineObtainer:
    """:meth:`sign` and :meth:`store` for a :class:`SigningAuthority`, with the general
    path's rows and announcements (:class:`.obtain.Obtainer`).

    No in-process holder lock is needed: the database thread (:func:`.db.database_thread`)
    runs one call at a time and a batch stores its orders one after the other, so a second
    order of the same holder finds the first one's certificate; across processes the row
    lock decides."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: SigningAuthority,
        limits: OrderLimits,
        registrar: Registrar,
        obtainer: Obtainer,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.limits = limits
        self.registrar = registrar
        self.obtainer = obtainer
        self.clock = clock
        self.gate = write_gate(sessions.kw["bind"])
        self._lock = threading.Lock()
        self._pending: list[tuple[SignedOrder, asyncio.Future[Stored]]] = []
        self._queued = False  # a call to store the pending orders waits on the thread

    def sign(
        self,
        holder: Holder,
        csr: x509.CertificateSigningRequest | None,
        previous: StoredCertificate | None,
        csr_sha256: str | None,
        identifier: str,
        seen: BoxRow | None,
    ) -> SignedOrder:
        """Sign for ``holder`` (on the database thread, right after the request's read;
        ``previous``: the holder's newest certificate as read). Raises Refusal."""
        request, key_pem = request_of(holder, csr)
        replaces = previous.ari_id if previous is not None else None
        try:
            issued = self.ca.sign(request, holder.names, replaces)
        except CertificateAuthorityError as err:
            raise self.obtainer.ca_failed(holder, err) from err
        return SignedOrder(holder, issued, key_pem, csr_sha256, identifier, seen)

    async def store(self, order: SignedOrder) -> Stored:
        """Store ``order`` with the others pending (see the module docstring) and announce
        it; the certificate to hand out, and whether it was stored before (by another
        request of the same holder). Raises Refusal."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Stored] = loop.create_future()
        with self._lock:
            self._pending.append((order, done))
            queue = not self._queued
            self._queued = True
        if queue:
            database_thread().submit(self._store_pending, loop)
        stored, before = await done
        if not before:
            self.obtainer.announce(order.holder, stored, renewal=stored.replaces_id is not None)
        return stored, before

    def _store_pending(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch, self._pending, self._queued = self._pending, [], False
        try:
            outcomes = self._store_batch([order for order, _ in batch])
        except BaseException as err:  # a bug: no request may wait forever for its answer
            outcomes = [err] * len(batch)
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, done, outcome)

    def _store_batch(self, orders: list[SignedOrder]) -> list[Stored | BaseException]:
        outcomes: list[Stored | BaseException] = []
        try:
            with self.gate, self.sessions.begin() as session:
                locked = _lock_in_order(session, {order.holder.db_uuid for order in orders})
                for order in orders:
                    try:
                        outcomes.append(self._store(session, order, locked[order.holder.db_uuid]))
                    except Refusal as refused:  # decided before it wrote anything
                        outcomes.append(refused)
            return outcomes
        except IntegrityError:
            # A box asked for two databases at once on two issuers: one order of the batch
            # found its row taken. Each on its own, so only that one is refused.
            return [self._store_alone(order) for order in orders]
        except Exception as err:  # the database is down: every order fails alike
            return [err] * len(orders)

    def _store_alone(self, order: SignedOrder) -> Stored | BaseException:
        try:
            with self.gate, self.sessions.begin() as session:
                locked = accounts.lock_database(session, order.holder.db_uuid)
                return self._store(session, order, locked)
        except Exception as err:
            return err

    def _store(
        self, session: Session, order: SignedOrder, locked: accounts.LockedDatabase | None
    ) -> Stored:
        """Store one order in ``session``, which holds its database's row (``locked``; None:
        the database is gone)."""
        holder = order.holder
        decision, limit = registration.Decision.NO_DATABASE, self.registrar.limit
        if locked is not None and holder.for_box:
            decision, limit = self.registrar.register_locked(
                session, locked, holder.label, holder.db_uuid, order.identifier, order.seen
            )
        elif locked is not None:
            decision = registration.Decision.KNOWN  # a database's own key
        refused = registration.refusal(decision, limit)
        if refused is not None:
            raise refused
        current = certificates.latest_certificate(
            session, holder.label, holder.db_uuid, holder.names, self.ca.name
        )
        if is_fresh(current, self.clock()):
            assert current is not None
            return current, True
        domain = self.limits.settings.registered_domain(holder.label)
        renewal = current is not None
        if self.ca.limits_per_domain:
            # Only a CA that counts has limits: one that signs in-process never says "not
            # now" (no pause is ever recorded for it) and has no weekly cap.
            self.limits.judge(self.limits.read(session, domain, renewal), domain, renewal=renewal)
        new = self.obtainer.new_certificate(
            holder, domain, order.issued, order.key_pem, current, order.csr_sha256
        )
        return certificates.save_certificate(session, new), False


def _lock_in_order(
    session: Session, db_uuids: set[str]
) -> dict[str, accounts.LockedDatabase | None]:
    """Take the rows of a batch's databases, each once and all in one order (sorted), before
    any order is stored: two issuers' batches that share databases then wait for each other
    instead of deadlocking (PostgreSQL's row locks; SQLite has one write lock anyway)."""
    return {db_uuid: accounts.lock_database(session, db_uuid) for db_uuid in sorted(db_uuids)}


def _settle(done: asyncio.Future[Stored], outcome: Stored | BaseException) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
