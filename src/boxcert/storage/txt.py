"""The ``txt_records`` table: TXT values in the IoT zone (ACME DNS-01 challenges in flight).

The issuer writes rows while an order waits for validation; every DNS server of the zone reads
them (see :mod:`boxcert.dns.zonedata`). The table is created by the issuer's migrations; the
DNS server only ever reads it, so a read-only database role is enough for it.
Names are stored lower case without the trailing dot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from boxcert.storage.types import UtcDateTime


class TxtBase(DeclarativeBase):
    pass


class TxtRecord(TxtBase):
    """One TXT value published in the zone."""

    __tablename__ = "txt_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), index=True)  # lowercase, no trailing dot
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def publish_txt(session: Session, name: str, value: str, now: datetime, expires: datetime) -> None:
    session.add(TxtRecord(name=_key(name), value=value, created_at=now, expires_at=expires))


def remove_txt(session: Session, name: str, value: str) -> None:
    session.execute(delete(TxtRecord).where(TxtRecord.name == _key(name), TxtRecord.value == value))


def txt_values(session: Session, name: str, now: datetime) -> list[str]:
    return list(
        session.scalars(
            select(TxtRecord.value)
            .where(TxtRecord.name == _key(name), TxtRecord.expires_at > now)
            .order_by(TxtRecord.id)
        ).all()
    )


def live_txt_records(session: Session, now: datetime) -> dict[str, list[str]]:
    """Every unexpired TXT value by name, in publication order (the DNS server's snapshot)."""
    records: dict[str, list[str]] = {}
    query = (
        select(TxtRecord.name, TxtRecord.value)
        .where(TxtRecord.expires_at > now)
        .order_by(TxtRecord.id)
    )
    for name, value in session.execute(query):
        records.setdefault(name, []).append(value)
    return records
