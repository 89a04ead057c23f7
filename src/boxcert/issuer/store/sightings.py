"""Hub sightings: which installations (fingerprints) reported which database uuid, and what
the vendor decided about each (see :mod:`boxcert.issuer.duplicates`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer.errors import NotFound
from boxcert.issuer.models import HubSighting, SightingVerdict
from boxcert.issuer.store.rows import SightingRow


def _row(s: HubSighting) -> SightingRow:
    return SightingRow(s.db_uuid, s.fingerprint, s.first_seen, s.last_seen, s.verdict)


def sightings(session: Session, db_uuid: str) -> list[SightingRow]:
    rows = session.scalars(
        select(HubSighting).where(HubSighting.db_uuid == db_uuid).order_by(HubSighting.first_seen)
    ).all()
    return [_row(s) for s in rows]


def record(
    session: Session, db_uuid: str, fingerprint: str, now: datetime, reported_at: datetime
) -> tuple[bool, bool]:
    """Note a report; (accepted, first time). A report not newer than the last one from this
    installation is a replay and is not accepted."""
    found = session.get(HubSighting, (db_uuid, fingerprint))
    if found is not None:
        if reported_at <= found.last_reported_at:
            return False, False
        found.last_seen = now
        found.last_reported_at = reported_at
        return True, False
    try:
        with session.begin_nested():
            session.add(
                HubSighting(
                    db_uuid=db_uuid,
                    fingerprint=fingerprint,
                    first_seen=now,
                    last_seen=now,
                    last_reported_at=reported_at,
                    verdict=SightingVerdict.REPORTED.value,
                )
            )
    except IntegrityError:
        return False, False  # the same report raced on two issuers: one counts
    return True, True


def resolve(session: Session, db_uuid: str, keep: str) -> None:
    """Keep ``keep``; every other installation of this uuid is dismissed."""
    if session.get(HubSighting, (db_uuid, keep)) is None:
        raise NotFound(f"no hub installation {keep} reported database {db_uuid}")
    session.execute(
        update(HubSighting)
        .where(HubSighting.db_uuid == db_uuid)
        .values(verdict=SightingVerdict.DISMISSED.value),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(HubSighting)
        .where(HubSighting.db_uuid == db_uuid, HubSighting.fingerprint == keep)
        .values(verdict=SightingVerdict.KEPT.value),
        execution_options={"synchronize_session": False},
    )
