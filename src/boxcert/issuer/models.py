"""Tables of the issuer's database (SQLite by default, PostgreSQL for several issuers).

The schema is owned by the Alembic migrations in :mod:`boxcert.issuer.migrations`; these classes
must match them (a test compares the two).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from boxcert.storage.txt import TxtBase
from boxcert.storage.types import UtcDateTime

IOT_BOX_LINE = "IoT Box Subscription"


class DatabaseKind(enum.StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"
    DUPLICATE = "duplicate"


class SubscriptionState(enum.StrEnum):
    DRAFT = "draft"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    CLOSED = "closed"
    EXPIRED = "expired"


class Base(DeclarativeBase):
    pass


class Subscription(Base):
    """A contract. The contract code is a secret: only its keyed hash is kept (see
    :mod:`boxcert.issuer.contract_codes`), with its last characters to tell codes apart."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_code_digest", "code_digest", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    code_hint: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SubscriptionLine(Base):
    __tablename__ = "subscription_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    product_name: Mapped[str] = mapped_column(String(256))


class Database(Base):
    """A customer database; ``uuid`` in its canonical form (:func:`boxcert.wire.canonical_uuid`)."""

    __tablename__ = "databases"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Box(Base):
    """A box (one key), registered to the database it first asked for; it never moves."""

    __tablename__ = "boxes"

    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    db_uuid: Mapped[str] = mapped_column(String(64), index=True)
    identifier: Mapped[str] = mapped_column(String(256), default="")
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Certificate(Base):
    """A certificate the issuer obtained; the newest unrevoked one per holder is served."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_holder", "holder_label", "issued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_label: Mapped[str] = mapped_column(String(32))
    db_uuid: Mapped[str] = mapped_column(String(64), index=True)
    names: Mapped[str] = mapped_column(Text)  # space separated, wildcard first
    subject_cn: Mapped[str] = mapped_column(String(255))  # kept so no request parses the chain
    chain_pem: Mapped[str] = mapped_column(Text)
    # Only for the compatible no-CSR exchange, where the issuer must hand out a key.
    private_key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    serial_hex: Mapped[str] = mapped_column(String(64))
    ca_name: Mapped[str] = mapped_column(String(32))
    registered_domain: Mapped[str] = mapped_column(String(255), index=True)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    renew_after: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ari_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # The certificate this one renewed; None for a holder's first. Renewals are exempt from
    # public CAs' weekly limits, so our own cap counts only first certificates.
    replaces_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class IssuanceLock(Base):
    """Held while one issuer orders for a holder, so a cluster of issuers orders once."""

    __tablename__ = "issuance_locks"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaPause(Base):
    """The CA said "not now" for a registered domain: no issuer orders for it before ``until``."""

    __tablename__ = "ca_pauses"

    ca_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    registered_domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(Text)


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# The TXT table is shared with the DNS server (boxcert.storage.txt) but created by our
# migrations: it belongs to this schema too.
TxtBase.metadata.tables["txt_records"].to_metadata(Base.metadata)
