"""Ordering from a CA that signs in this process (the local CA): one transaction.

The general path (:mod:`.obtain`) is built for a CA order that takes seconds: a cluster-wide
lock row, taken and released in transactions of their own around the wait, and the box
registered before it in another. A CA that signs in-process
(:class:`~boxcert.issuer.ca.SigningAuthority`) and has no per-domain limits needs none of
that. The certificate is signed first, outside any lock (a signature nobody stores is never
handed out, so losing a race costs only the CPU), then one transaction:

1. goes through the database's write gate (:mod:`boxcert.storage.writegate`: SQLite's
   writers take turns without sleeping in its busy handler) and takes the database's row
   lock (:func:`~.store.accounts.lock_databases`: PostgreSQL's row lock, SQLite's write
   lock), which also reads the database's box cap. A holder (a box's key, or a database's)
   belongs to one database, so every request of one holder, on any issuer of a cluster,
   waits on the same lock: this is the single-flight;
2. registers the box under it (the decision of
   :meth:`.registration.Registrar.register_locked`; a refusal is decided before anything of
   the order is written);
3. looks in storage again: a fresh certificate stored while we waited is handed out, ours is
   dropped;
4. stores the certificate.

Orders are stored in batches (group commit): a request signs on the database thread right
after its read (:meth:`InlineObtainer.sign`) and hands the signed certificate to
:meth:`InlineObtainer.store`, which stores every order handed over by the time the database
thread takes them (:class:`.batching.Batched`) in that one transaction. A batch locks all its
databases' rows in one statement, in the order of their uuids (two issuers' batches sharing
databases wait for each other, never deadlock), reads every box, count and latest
certificate it needs in one statement each, judges each order in turn as if the ones before
it were stored (:class:`_Batch`; a refusal for one stores nothing of it and nothing else
changes), then writes in one statement per table. A box's first certificate so costs the
request's read and a share of one transaction of six statements (seven when known boxes are
noted as seen), where the general path takes four transactions and five thread hops: a
fleet's first morning goes at the pace of the CPU rather than of the database's write lock or
round trips (``bench/fleet_storm.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer import registration
from boxcert.issuer.batching import Batched
from boxcert.issuer.ca import IssuedCertificate, SigningAuthority
from boxcert.issuer.errors import CertificateAuthorityError, Refusal
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.obtain import Holder, Obtainer, is_fresh, request_of
from boxcert.issuer.registration import Registrar
from boxcert.issuer.store import accounts, boxes, certificates
from boxcert.issuer.store.rows import BoxRow, NewCertificate, StoredCertificate
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


DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
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
        self._stored_together: Batched[SignedOrder, Stored] = Batched(self._store_batch)

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
        stored, before = await self._stored_together(order)
        if not before:
            self.obtainer.announce(order.holder, stored, renewal=stored.replaces_id is not None)
        return stored, before

    def _store_batch(self, orders: Sequence[SignedOrder]) -> list[Stored | BaseException]:
        try:
            return self._store_together(orders)
        except Exception as err:
            if not _one_order_at_fault(err):  # the database is down: every order fails alike
                return [err] * len(orders)
            # A box asked for two databases at once on two issuers: one order of the batch
            # found its row taken. Each on its own, so only that one is refused.
            return [self._store_alone(order) for order in orders]

    def _store_alone(self, order: SignedOrder) -> Stored | BaseException:
        try:
            outcome = self._store_together([order])[0]
        except Exception as err:
            return err
        return outcome

    def _store_together(self, orders: Sequence[SignedOrder]) -> list[Stored | BaseException]:
        """One transaction, whatever the number of orders: the reads for all of them, the
        judgement of each in turn (:class:`_Batch`), then the writes for all of them."""
        with self.gate, self.sessions.begin() as session:
            holders = [order.holder for order in orders]
            locked = accounts.lock_databases(session, {h.db_uuid for h in holders})
            labels = {h.label for h in holders if h.for_box and h.db_uuid in locked}
            found = boxes.get_boxes(session, labels)
            counted = {h.db_uuid for h in holders if h.for_box and h.label in labels - set(found)}
            batch = _Batch(
                locked,
                found,
                boxes.count_boxes_of(session, counted),
                certificates.latest_certificates(
                    session, {h.key for h in holders if h.db_uuid in locked}, self.ca.name
                ),
                self.registrar.limit,
                self.clock(),
            )
            judged = [batch.judge(order, self) for order in orders]
            # In the order of their labels: two issuers' batches adding the same new boxes
            # (each for another database) then wait for each other, never deadlock.
            boxes.add_boxes(session, batch.new_boxes)
            boxes.touch_boxes(session, batch.touched, batch.now)
            saved = certificates.save_certificates(session, batch.new_certificates)
        return [_outcome(verdict, saved) for verdict in judged]

    def new_certificate(
        self, order: SignedOrder, current: StoredCertificate | None
    ) -> NewCertificate:
        """The row to store for ``order`` (``current``: the holder's newest certificate)."""
        domain = self.limits.settings.registered_domain(order.holder.label)
        return self.obtainer.new_certificate(
            order.holder, domain, order.issued, order.key_pem, current, order.csr_sha256
        )


# What the judgement of one order of a batch came to: refused; a fresh certificate stored
# before; or the new certificate at this index of the batch's, ours (False) or an earlier
# order's of the same holder (True).
_Verdict = Refusal | StoredCertificate | tuple[int, bool]


class _Batch:
    """What a batch's transaction read under its databases' locks, and what it is to write.

    The orders are judged one after the other against it, each seeing what the ones before
    it would write: the same decisions as storing them one at a time, in one round of reads
    and one of writes (a round trip each to PostgreSQL, instead of five per order)."""

    def __init__(
        self,
        locked: dict[str, accounts.LockedDatabase],
        found: dict[str, BoxRow],
        counts: dict[str, int],
        latest: dict[certificates.HolderKey, StoredCertificate],
        default_cap: int,
        now: datetime,
    ) -> None:
        self.locked = locked
        self.boxes = found
        self.counts = counts
        self.latest = latest
        self.default_cap = default_cap
        self.now = now
        self._added: dict[str, BoxRow] = {}  # label → the new box
        self._touched: dict[str, tuple[str, str]] = {}  # label → (database, name)
        self.new_certificates: list[NewCertificate] = []
        self._ordered: dict[certificates.HolderKey, int] = {}  # holder → its new certificate

    def judge(self, order: SignedOrder, obtainer: InlineObtainer) -> _Verdict:
        holder = order.holder
        refused = self._register(order)
        if refused is not None:
            return refused
        key = holder.key
        if key in self._ordered:
            return self._ordered[key], True  # an earlier order of the batch got it
        current = self.latest.get(key)
        if is_fresh(current, self.now):
            assert current is not None
            return current
        self._ordered[key] = len(self.new_certificates)
        self.new_certificates.append(obtainer.new_certificate(order, current))
        return self._ordered[key], False

    def _register(self, order: SignedOrder) -> Refusal | None:
        """:meth:`.registration.Registrar.register_locked` on what the batch read."""
        holder = order.holder
        locked = self.locked.get(holder.db_uuid)
        if locked is None:
            return registration.refusal(registration.Decision.NO_DATABASE, self.default_cap)
        if not holder.for_box:
            return None  # a database's own key
        cap = registration.box_cap(locked.max_boxes, self.default_cap)
        box = self.boxes.get(holder.label)
        count = self.counts.get(holder.db_uuid, 0) if box is None else 0
        decision = registration.decide(box, holder.db_uuid, count, cap)
        if decision is registration.Decision.NEW:
            new = BoxRow(holder.label, holder.db_uuid, order.identifier, self.now, self.now)
            self.boxes[holder.label] = new
            self.counts[holder.db_uuid] = count + 1
            self._added[holder.label] = new
        elif decision is registration.Decision.KNOWN and registration.needs_touch(
            order.seen, self.now
        ):
            # Written once a batch, with the name the last order gave (an empty one keeps
            # the name before), as storing the orders one at a time would leave it.
            if holder.label in self._added:
                added = self._added[holder.label]
                name = order.identifier or added.identifier
                self._added[holder.label] = dataclasses.replace(added, identifier=name)
            else:
                before = self._touched.get(holder.label, (holder.db_uuid, ""))[1]
                self._touched[holder.label] = (holder.db_uuid, order.identifier or before)
        return registration.refusal(decision, cap)

    @property
    def new_boxes(self) -> list[BoxRow]:
        """The boxes to add, in the order of their labels (see the insert)."""
        return [self._added[label] for label in sorted(self._added)]

    @property
    def touched(self) -> list[tuple[str, str, str]]:
        """The known boxes to note as seen: (label, database, name)."""
        return [(label, db, name) for label, (db, name) in sorted(self._touched.items())]


def _one_order_at_fault(err: Exception) -> bool:
    """Whether a batch failed for one of its orders (so that the others go through alone): a
    box's row taken by another issuer meanwhile, or PostgreSQL breaking a deadlock of ours."""
    if isinstance(err, IntegrityError):
        return True
    return getattr(getattr(err, "orig", None), "sqlstate", None) == DEADLOCK_DETECTED


def _outcome(verdict: _Verdict, saved: list[StoredCertificate]) -> Stored | BaseException:
    if isinstance(verdict, Refusal):
        return verdict
    if isinstance(verdict, StoredCertificate):
        return verdict, True
    index, before = verdict
    return saved[index], before
