"""The hub's SQL: settings, pairing tokens, boxes. Callers own the session and transaction."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from boxcert.hub.models import Box, BoxKind, PairingTokenRow, Setting
from boxcert.wire.hub import BoxReport


class Key(enum.StrEnum):
    """Names in ``hub_settings``."""

    DB_UUID = "db_uuid"
    ENTERPRISE_CODE = "enterprise_code"
    ISSUER_URL = "issuer_url"
    ZONE = "zone"
    PUBLIC_URL = "public_url"
    ADMIN_PASSWORD_HASH = "admin_password_hash"  # noqa: S105 - the name of a setting


def settings(session: Session) -> dict[Key, str]:
    rows = session.scalars(select(Setting)).all()
    known = {key.value for key in Key}
    return {Key(row.key): row.value for row in rows if row.key in known}


def get_setting(session: Session, key: Key) -> str | None:
    row = session.get(Setting, key.value)
    return row.value if row else None


def set_setting(session: Session, key: Key, value: str) -> None:
    row = session.get(Setting, key.value)
    if row is None:
        session.add(Setting(key=key.value, value=value))
    else:
        row.value = value


# --- pairing tokens ---------------------------------------------------------------------


def add_token(
    session: Session, token_id: str, secret_hash: str, now: datetime, expires_at: datetime
) -> None:
    session.add(
        PairingTokenRow(id=token_id, secret_hash=secret_hash, created_at=now, expires_at=expires_at)
    )


def token_row(session: Session, token_id: str) -> PairingTokenRow | None:
    return session.get(PairingTokenRow, token_id)


def use_token(session: Session, token_id: str, identifier: str, now: datetime) -> bool:
    """Mark the token used; False when it already was (another request won the race)."""
    result = session.execute(
        update(PairingTokenRow)
        .where(PairingTokenRow.id == token_id, PairingTokenRow.used_at.is_(None))
        .values(used_at=now, used_by=identifier)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def purge_tokens(session: Session, expired_before: datetime) -> None:
    """Drop tokens that expired before the given time (used or not): they can only refuse."""
    session.execute(delete(PairingTokenRow).where(PairingTokenRow.expires_at < expired_before))


# --- boxes ------------------------------------------------------------------------------


def box_by_identifier(session: Session, identifier: str) -> Box | None:
    return session.scalars(select(Box).where(Box.identifier == identifier)).first()


def box_by_secret_id(session: Session, secret_id: str) -> Box | None:
    return session.scalars(select(Box).where(Box.secret_id == secret_id)).first()


def list_boxes(session: Session) -> list[Box]:
    return list(session.scalars(select(Box).order_by(Box.name, Box.identifier)).all())


def pair_box(
    session: Session,
    identifier: str,
    name: str,
    ip: str,
    secret_id: str,
    secret_hash: str,
    now: datetime,
) -> Box:
    """Record a newly paired box, or re-pair a known one: its previous secret stops working."""
    box = box_by_identifier(session, identifier)
    if box is None:
        box = Box(identifier=identifier, added_at=now, detail="", url="", name="", ip="")
        session.add(box)
    box.kind = BoxKind.PAIRED.value
    box.name = name or box.name
    box.ip = ip or box.ip
    box.secret_id = secret_id
    box.secret_hash = secret_hash
    box.last_seen = now
    session.flush()
    return box


def add_legacy_box(session: Session, identifier: str, name: str, now: datetime) -> Box | None:
    """Register an existing vendor box; None when the identifier is already known."""
    if box_by_identifier(session, identifier) is not None:
        return None
    box = Box(
        identifier=identifier,
        kind=BoxKind.LEGACY.value,
        name=name,
        ip="",
        url="",
        detail="",
        added_at=now,
    )
    session.add(box)
    session.flush()
    return box


def apply_report(box: Box, report: BoxReport, now: datetime) -> None:
    box.name = report.name or box.name
    box.ip = report.ip
    box.url = report.url
    box.certificate_end_date = report.certificate_end_date
    box.state = report.state.value
    box.error_code = report.error_code
    box.detail = report.detail
    box.last_seen = now


def apply_legacy_report(box: Box, end_date: datetime | None, now: datetime) -> None:
    if end_date is not None:
        box.certificate_end_date = end_date
    box.last_seen = now


def forget_box(session: Session, identifier: str) -> bool:
    result = session.execute(delete(Box).where(Box.identifier == identifier))
    return bool(getattr(result, "rowcount", 0) == 1)


# --- figures ----------------------------------------------------------------------------


def box_counts(session: Session) -> list[tuple[str, str, int]]:
    """(kind, last reported state or ``none``, boxes), sorted."""
    rows = session.execute(select(Box.kind, Box.state, func.count()).group_by(Box.kind, Box.state))
    return sorted((kind, state or "none", int(n)) for kind, state, n in rows)


def silent_boxes(session: Session, heard_by: datetime) -> int:
    """Boxes not heard from since ``heard_by`` (nor added since: a box never heard from counts
    from when it was added), as :func:`.view.box_view` calls them silent."""
    heard = func.coalesce(Box.last_seen, Box.added_at)
    return int(session.scalar(select(func.count()).where(heard <= heard_by)) or 0)


def soonest_certificate_end(session: Session) -> datetime | None:
    """The soonest certificate end any box reported (None: none did)."""
    return session.scalar(select(func.min(Box.certificate_end_date)))
