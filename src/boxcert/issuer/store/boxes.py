"""Boxes: one row per box key (its label), tied to the database it first asked for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from boxcert.issuer.models import Box
from boxcert.issuer.store.rows import BoxRow


def get_box(session: Session, label: str) -> BoxRow | None:
    box = session.get(Box, label)
    if box is None:
        return None
    return BoxRow(box.label, box.db_uuid, box.identifier, box.first_seen, box.last_seen)


def count_boxes(session: Session, db_uuid: str) -> int:
    return session.scalar(select(func.count()).select_from(Box).where(Box.db_uuid == db_uuid)) or 0


def add_box(session: Session, label: str, db_uuid: str, identifier: str, now: datetime) -> None:
    """Insert a new box; the caller's transaction fails with IntegrityError if the label is
    taken (two first requests of one box racing)."""
    session.add(
        Box(label=label, db_uuid=db_uuid, identifier=identifier, first_seen=now, last_seen=now)
    )
    session.flush()


def touch_box(session: Session, label: str, db_uuid: str, identifier: str, now: datetime) -> bool:
    """Note that a known box of ``db_uuid`` asked again; never moves a box to another database.
    False when no box ``label`` of ``db_uuid`` exists."""
    values: dict[str, object] = {"last_seen": now}
    if identifier:
        values["identifier"] = identifier
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Box).where(Box.label == label, Box.db_uuid == db_uuid).values(**values),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount > 0


def boxes_of_database(session: Session, db_uuid: str) -> list[BoxRow]:
    rows = session.scalars(select(Box).where(Box.db_uuid == db_uuid).order_by(Box.first_seen))
    return [BoxRow(b.label, b.db_uuid, b.identifier, b.first_seen, b.last_seen) for b in rows]
