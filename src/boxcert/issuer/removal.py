"""Removing what the vendor no longer serves — a database, a subscription, a box — for the
command line and the admin API alike.

Each removal is one transaction of :mod:`.store.removals` with its audit entry (actor
``cli`` or ``admin-api:<token>``), so the entry exists exactly when the change does. Asked to
revoke first, the remover revokes each valid certificate concerned through the
:class:`~.revocation.Revoker` (the holder's issuance lock, once each, audited as
revocations) with the reason ``cessationOfOperation``: the database or box stops being
served. The removal itself then checks again, under the database's row lock, that nothing
valid is left; a certificate issued in between makes it refuse (run it again). An order still
under way at a network CA when its database goes stores nothing (the store takes the same row
lock and finds the database gone): the box is refused, the certificate revoked.

Not a ban: a box that still runs and asks again is a new box of its database (if the cap
allows); a removed database's boxes are refused as for any unknown uuid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock
from boxcert.issuer import audit
from boxcert.issuer.audit import AuditKind
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import IssuerError, NotFound
from boxcert.issuer.revocation import Revoker
from boxcert.issuer.store import accounts, boxes, certificates, removals
from boxcert.issuer.store.removals import ForgottenBox, RemovedDatabase, RemovedSubscription
from boxcert.issuer.store.rows import AuditRecord, StoredCertificate
from boxcert.wire import canonical_uuid

REASON = x509.ReasonFlags.cessation_of_operation


def box_label_of(text: str) -> str:
    """The box a person means: its label as ``box list`` and the portal show it, or any name
    of its certificate or its address (``192-168-1-5.<label>.<zone>``, a URL). ValueError
    when no part of it is a box label."""
    host = text.strip().lower().split("://", 1)[-1].split("/", 1)[0]
    for part in host.rstrip(".").split("."):
        if naming.is_label(part):
            return part
    raise ValueError(f"{text!r} is not a box's label (16 letters and digits, see `box list`)")


@dataclass(frozen=True, slots=True)
class DatabaseRemoval:
    removed: RemovedDatabase
    revoked: tuple[str, ...] = ()  # serials revoked on the way


@dataclass(frozen=True, slots=True)
class SubscriptionRemoval:
    removed: RemovedSubscription
    databases: tuple[DatabaseRemoval, ...] = ()


@dataclass(frozen=True, slots=True)
class BoxForgetting:
    forgotten: ForgottenBox
    revoked: tuple[str, ...] = ()


@dataclass
class Remover:
    sessions: sessionmaker[Session]
    clock: Clock
    revoker: Revoker | None = None  # needed only to revoke first
    actor: str = "cli"

    def _record(self, session: Session, what: str, db: str | None, sub: int | None) -> None:
        entry = AuditRecord(self.clock(), AuditKind.ADMIN_CHANGE, self.actor, what, db, sub)
        audit.write_now(session, [entry])

    async def _revoke(
        self, find: Callable[[Session, datetime], list[StoredCertificate]]
    ) -> tuple[str, ...]:
        found = await run_in_session(self.sessions, lambda s: find(s, self.clock()))
        if not found:
            return ()
        if self.revoker is None:
            raise IssuerError("revoking needs the CA backend")  # a caller's mistake
        revoked = []
        for cert in found:
            if await self.revoker.revoke_certificate(cert, reason=REASON, actor=self.actor):
                revoked.append(cert.serial_hex)
        return tuple(revoked)

    async def remove_database(self, uuid: str, *, revoke: bool = False) -> DatabaseRemoval:
        uuid = canonical_uuid(uuid)
        revoked: tuple[str, ...] = ()
        if revoke:
            await run_in_session(self.sessions, lambda s: accounts.get_database(s, uuid))
            revoked = await self._revoke(
                lambda s, now: certificates.unrevoked_of_database(s, uuid, now)
            )

        def run(session: Session) -> RemovedDatabase:
            removed = removals.remove_database(session, uuid, self.clock())
            self._record(
                session,
                f"removed database {uuid} (subscription #{removed.subscription_id}): "
                f"{removed.boxes} box(es), {removed.installations} hub installation(s); its "
                "certificates and audit entries are kept",
                uuid,
                removed.subscription_id,
            )
            return removed

        return DatabaseRemoval(await run_in_session(self.sessions, run), revoked)

    async def remove_subscription(
        self, sub_id: int, *, with_databases: bool = False, revoke: bool = False
    ) -> SubscriptionRemoval:
        done: list[DatabaseRemoval] = []
        if with_databases:
            covered = await run_in_session(
                self.sessions,
                lambda s: (accounts.get_subscription(s, sub_id), removals.databases_of(s, sub_id)),
            )
            for uuid in covered[1]:
                done.append(await self.remove_database(uuid, revoke=revoke))

        def run(session: Session) -> RemovedSubscription:
            removed = removals.remove_subscription(session, sub_id)
            self._record(
                session,
                f"removed subscription #{sub_id} ({removed.lines} line(s), "
                f"{removed.accounts} portal account link(s))",
                None,
                sub_id,
            )
            return removed

        return SubscriptionRemoval(await run_in_session(self.sessions, run), tuple(done))

    async def forget_box(
        self, label: str, *, keep_certificate: bool = False, database: str | None = None
    ) -> BoxForgetting:
        """Given ``database``, only a box of that database: a box of another one is NotFound,
        as an unknown box is, before anything is revoked and again in the removal."""
        database = canonical_uuid(database) if database is not None else None
        revoked: tuple[str, ...] = ()
        if not keep_certificate:

            def valid(session: Session, now: datetime) -> list[StoredCertificate]:
                box = boxes.get_box(session, label)
                if box is None or (database is not None and box.db_uuid != database):
                    raise NotFound(f"no box {label}")
                return removals.valid_of_box(session, box, now)

            revoked = await self._revoke(valid)

        def run(session: Session) -> ForgottenBox:
            gone = removals.forget_box(
                session, label, self.clock(), keep_certificate=keep_certificate, database=database
            )
            kept = ", ".join(c.serial_hex for c in gone.kept)
            self._record(
                session,
                f"forgot box {label} of database {gone.box.db_uuid}"
                + (f" (identifier {gone.box.identifier!r})" if gone.box.identifier else "")
                + (f"; its certificate {kept} stays valid" if kept else ""),
                gone.box.db_uuid,
                None,
            )
            return gone

        return BoxForgetting(await run_in_session(self.sessions, run), revoked)
