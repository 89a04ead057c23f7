"""The audit log's rows: written in batches by :mod:`boxcert.issuer.audit`, read by the CLI,
the portal and the admin API (newest first)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from boxcert.issuer.models import AuditEntry
from boxcert.issuer.store import core
from boxcert.issuer.store.rows import AuditRecord

_ADD = insert(AuditEntry)


def add(session: Session, records: Sequence[AuditRecord]) -> None:
    """Store a batch in one statement (executemany; no ORM objects: a storm of first
    certificates writes one entry each)."""
    if not records:
        return
    rows = [
        {
            "at": r.at,
            "kind": r.kind,
            "actor": r.actor[:128],
            "db_uuid": r.db_uuid[:64] if r.db_uuid is not None else None,
            "subscription_id": r.subscription_id,
            "code": r.code,
            "detail": r.detail,
        }
        for r in records
    ]
    core.connection(session).execute(_ADD, rows)


def entries(
    session: Session,
    *,
    db_uuids: Collection[str] | None = None,
    subscription_ids: Collection[int] | None = None,
    actors: Collection[str] | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditRecord]:
    """Entries newest first. Given uuids, subscription ids and/or actors, only entries about
    (or by) them."""
    query = select(AuditEntry)
    scopes = []
    if db_uuids is not None:
        scopes.append(AuditEntry.db_uuid.in_(list(db_uuids)))
    if subscription_ids is not None:
        scopes.append(AuditEntry.subscription_id.in_(list(subscription_ids)))
    if actors is not None:
        scopes.append(AuditEntry.actor.in_(list(actors)))
    if scopes:
        query = query.where(or_(*scopes))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    rows = session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit))
    return [
        AuditRecord(
            at=e.at,
            kind=e.kind,
            actor=e.actor,
            detail=e.detail,
            db_uuid=e.db_uuid,
            subscription_id=e.subscription_id,
            code=e.code,
            id=e.id,
        )
        for e in rows
    ]
