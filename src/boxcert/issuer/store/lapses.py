"""Entitlement lapses: since when a database has not been entitled, and why (see
:mod:`boxcert.issuer.lifecycle`). Several issuers may notice one lapse at once: the first
insert wins and the others read it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer.models import EntitlementLapse
from boxcert.issuer.store.rows import LapseRow


def _row(lapse: EntitlementLapse) -> LapseRow:
    return LapseRow(lapse.db_uuid, lapse.since, lapse.code, lapse.message)


def all_lapses(session: Session) -> dict[str, LapseRow]:
    return {lapse.db_uuid: _row(lapse) for lapse in session.scalars(select(EntitlementLapse))}


def get_lapse(session: Session, db_uuid: str) -> LapseRow | None:
    lapse = session.get(EntitlementLapse, db_uuid)
    return _row(lapse) if lapse is not None else None


def start(session: Session, db_uuid: str, since: datetime, code: str, message: str) -> bool:
    """Record a lapse; False when one was recorded already (by us or another issuer)."""
    if session.get(EntitlementLapse, db_uuid) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(EntitlementLapse(db_uuid=db_uuid, since=since, code=code, message=message))
    except IntegrityError:
        return False
    return True


def update_reason(session: Session, db_uuid: str, code: str, message: str) -> None:
    """A lapsed database refused for another reason now: the grace period keeps running."""
    lapse = session.get(EntitlementLapse, db_uuid)
    if lapse is not None:
        lapse.code, lapse.message = code, message


def end(session: Session, db_uuid: str) -> LapseRow | None:
    """Remove the lapse; the removed row, or None when there was none (another issuer)."""
    lapse = session.get(EntitlementLapse, db_uuid)
    if lapse is None:
        return None
    row = _row(lapse)
    session.execute(delete(EntitlementLapse).where(EntitlementLapse.db_uuid == db_uuid))
    return row
