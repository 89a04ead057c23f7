"""Tables of the hub's database (a SQLite file in its data directory by default).

The schema is owned by the Alembic migrations in :mod:`boxcert.hub.migrations`; these classes
must match them (a test compares the two). Secrets are never stored as given: pairing tokens and
box secrets as scrypt hashes (``boxcert.secrets``) under a public random id, the admin password
as a scrypt hash in ``hub_settings``. The contract code is kept as given (the hub hands it to
the boxes it pairs), which is why the database file is private (0600 in a 0700 directory).

Every table name starts with ``hub_``, so the hub may share a database with another role.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from boxcert.storage.types import UtcDateTime


class BoxKind(enum.StrEnum):
    PAIRED = "paired"  # paired by token, reports with its own secret
    LEGACY = "legacy"  # an existing vendor box, known by identifier, sends the legacy report


class Base(DeclarativeBase):
    pass


class Setting(Base):
    __tablename__ = "hub_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PairingTokenRow(Base):
    __tablename__ = "hub_pairing_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public part of the token
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Box(Base):
    __tablename__ = "hub_boxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    url: Mapped[str] = mapped_column(String(300), default="")
    certificate_end_date: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    secret_id: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    secret_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
