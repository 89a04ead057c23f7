"""Removing a database, a subscription or a box: which rows go, and what stays.

What goes: a database's row with its boxes, hub sightings and entitlement lapse; a
subscription's row with its lines and its links to portal accounts; a box's row (its slot
under the database's cap is free again). What stays, as history: certificates (the CRL lists
the revoked ones until they expire; the admin API and the audit log name them) and audit
entries.

Each removal runs in the caller's transaction and refuses, rather than orphans:
a database or box while it still has certificates that are neither revoked nor expired
(:class:`~boxcert.issuer.errors.StillValid`: revoke them first), a subscription while
databases are registered under it (:class:`~boxcert.issuer.errors.InUse`). A database or box
is checked under the database's row lock, the lock a new box's registration takes, so no box
registers to a database while it is removed. The change feed's delete triggers (migration
0006) tell every issuer's hot cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from boxcert.issuer.errors import InUse, NotFound, StillValid
from boxcert.issuer.models import (
    Box,
    Certificate,
    Database,
    EntitlementLapse,
    HubSighting,
    PortalAccountSubscription,
    Subscription,
    SubscriptionLine,
)
from boxcert.issuer.store import accounts, boxes, certificates
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.wire import canonical_uuid


@dataclass(frozen=True, slots=True)
class RemovedDatabase:
    uuid: str
    subscription_id: int
    boxes: int
    installations: int  # hub sightings


@dataclass(frozen=True, slots=True)
class RemovedSubscription:
    id: int
    lines: int
    accounts: int  # portal accounts that lost it


@dataclass(frozen=True, slots=True)
class ForgottenBox:
    box: BoxRow
    kept: tuple[StoredCertificate, ...]  # valid certificates left valid (keep_certificate)


BoxKey = tuple[str, datetime, str]  # (database uuid, first seen, label): list_boxes' order
_BOX_COLUMNS = (Box.label, Box.db_uuid, Box.identifier, Box.first_seen, Box.last_seen)
_LABELS_PER_READ = 5000  # under SQLite's 32766 parameters, PostgreSQL's 65535


@dataclass(frozen=True, slots=True)
class BoxListing:
    box: BoxRow
    certificate: StoredCertificate | None  # its newest valid certificate


def _deleted(session: Session, statement: Any) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement, execution_options={"synchronize_session": False}
    )
    return result.rowcount


def _refuse_valid(what: str, valid: list[StoredCertificate]) -> None:
    if valid:
        raise StillValid(
            f"{what} still has {len(valid)} valid certificate(s)",
            tuple(c.serial_hex for c in valid),
            tuple(c.names[-1] for c in valid),
        )


def valid_of_box(session: Session, box: BoxRow, now: datetime) -> list[StoredCertificate]:
    """The box's certificates that are neither revoked nor expired."""
    return [
        c
        for c in certificates.unrevoked_of_database(session, box.db_uuid, now)
        if c.holder_label == box.label
    ]


def remove_database(session: Session, uuid: str, now: datetime) -> RemovedDatabase:
    """Remove a database that has no valid certificate left (StillValid otherwise)."""
    uuid = canonical_uuid(uuid)
    if accounts.lock_database(session, uuid) is None:
        raise NotFound(f"no database {uuid}")
    _refuse_valid(f"database {uuid}", certificates.unrevoked_of_database(session, uuid, now))
    sub_id = session.scalar(select(Database.subscription_id).where(Database.uuid == uuid))
    assert sub_id is not None
    removed = RemovedDatabase(
        uuid,
        sub_id,
        boxes=_deleted(session, delete(Box).where(Box.db_uuid == uuid)),
        installations=_deleted(session, delete(HubSighting).where(HubSighting.db_uuid == uuid)),
    )
    _deleted(session, delete(EntitlementLapse).where(EntitlementLapse.db_uuid == uuid))
    _deleted(session, delete(Database).where(Database.uuid == uuid))
    return removed


def remove_subscription(session: Session, sub_id: int) -> RemovedSubscription:
    """Remove a subscription no database is registered under (InUse otherwise)."""
    accounts.get_subscription(session, sub_id)  # NotFound
    covered = databases_of(session, sub_id)
    if covered:
        shown = ", ".join(covered[:3]) + (", …" if len(covered) > 3 else "")
        raise InUse(f"subscription #{sub_id} still covers {len(covered)} database(s): {shown}")
    lines = _deleted(
        session, delete(SubscriptionLine).where(SubscriptionLine.subscription_id == sub_id)
    )
    linked = _deleted(
        session,
        delete(PortalAccountSubscription).where(
            PortalAccountSubscription.subscription_id == sub_id
        ),
    )
    _deleted(session, delete(Subscription).where(Subscription.id == sub_id))
    return RemovedSubscription(sub_id, lines, linked)


def databases_of(session: Session, sub_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Database.uuid).where(Database.subscription_id == sub_id).order_by(Database.uuid)
        ).all()
    )


def forget_box(
    session: Session,
    label: str,
    now: datetime,
    *,
    keep_certificate: bool = False,
    database: str | None = None,
) -> ForgottenBox:
    """Remove a box's registration; refused (StillValid) while it has a valid certificate,
    unless ``keep_certificate``. Given ``database``, a box of another database is NotFound."""
    box = boxes.get_box(session, label)
    if box is None or (database is not None and box.db_uuid != database):
        raise NotFound(f"no box {label}")
    accounts.lock_database(session, box.db_uuid)
    valid = valid_of_box(session, box, now)
    if not keep_certificate:
        _refuse_valid(f"box {label}", valid)
    _deleted(session, delete(Box).where(Box.label == label))
    return ForgottenBox(box, tuple(valid))


def list_boxes(
    session: Session,
    db_uuid: str | None,
    now: datetime,
    *,
    limit: int | None = None,
    after: BoxKey | None = None,
) -> list[BoxListing]:
    """Boxes (of one database, or all) in :data:`BoxKey` order — database, then oldest first —
    each with its newest valid certificate. ``after``: only the boxes past that key (a page's
    last one); ``limit``: at most that many. Certificates are read for the listed boxes only."""
    query = select(*_BOX_COLUMNS).order_by(Box.db_uuid, Box.first_seen, Box.label)
    if db_uuid is not None:
        query = query.where(Box.db_uuid == db_uuid)
    if after is not None:
        # A row value: typed by the left side, so first_seen binds as UtcDateTime (the text
        # SQLite stores, the timestamptz PostgreSQL stores) and compares as it is ordered.
        query = query.where(tuple_(Box.db_uuid, Box.first_seen, Box.label) > tuple(after))
    if limit is not None:
        query = query.limit(limit)
    found = [BoxRow(*row) for row in session.execute(query)]
    newest = _newest_valid(session, found, now)
    return [BoxListing(b, newest.get((b.label, b.db_uuid))) for b in found]


def key_of(box: BoxRow) -> BoxKey:
    """The box's place in :func:`list_boxes`' order (for ``after``)."""
    return (box.db_uuid, box.first_seen, box.label)


def _newest_valid(
    session: Session, found: list[BoxRow], now: datetime
) -> dict[tuple[str, str], StoredCertificate]:
    """Each box's newest valid certificate, read for these boxes only (in chunks of labels,
    so that a listing of every box stays under the databases' limits on parameters)."""
    own = {(b.label, b.db_uuid) for b in found}
    newest: dict[tuple[str, str], StoredCertificate] = {}
    labels = sorted({b.label for b in found})
    for start in range(0, len(labels), _LABELS_PER_READ):
        held = (
            select(Certificate)
            .where(
                Certificate.holder_label.in_(labels[start : start + _LABELS_PER_READ]),
                Certificate.revoked_at.is_(None),
                Certificate.not_after > now,
            )
            .order_by(Certificate.issued_at, Certificate.id)
        )
        for c in session.scalars(held):
            if (c.holder_label, c.db_uuid) in own:  # a box's, of its own database
                newest[(c.holder_label, c.db_uuid)] = certificates.row_of(c)
    return newest
