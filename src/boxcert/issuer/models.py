"""Tables of the issuer's database (SQLite by default, PostgreSQL for several issuers).

The schema is owned by the Alembic migrations in :mod:`boxcert.issuer.migrations`; these classes
must match them (a test compares the two).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func
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


class SightingVerdict(enum.StrEnum):
    """What the vendor said about a hub installation that reported a database."""

    REPORTED = "reported"  # nobody decided: counts towards a duplicate
    KEPT = "kept"  # the real installation (resolve-duplicate --keep)
    DISMISSED = "dismissed"  # a copy the vendor set aside: its reports no longer count


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
    # The hubs' report key (derived from the contract code, see boxcert.wire.hubreport),
    # sealed under the installation's key; None until the issuer has seen the code once.
    report_key_sealed: Mapped[str | None] = mapped_column(String(200), nullable=True)


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
    # Set when hubs of two installations reported this uuid within 30 days (not eligible
    # until the vendor keeps one of them); see boxcert.issuer.duplicates.
    duplicate_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Boxes (keys) allowed for this database; None: the issuer's --max-boxes (migration 0007).
    max_boxes: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Box(Base):
    """A box (one key), registered to the database it first asked for; it never moves."""

    __tablename__ = "boxes"
    # The admin API's listing order (migration 0008); also a database's boxes and count.
    __table_args__ = (Index("ix_boxes_listing", "db_uuid", "first_seen", "label"),)

    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    db_uuid: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(256), default="")
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Certificate(Base):
    """A certificate the issuer obtained; the newest unrevoked one per holder is served."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_holder", "holder_label", "issued_at"),
        Index("ix_certificates_serial", "serial_hex"),
    )

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
    replaces_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # RFC 5280 reason name (x509.ReasonFlags value), and the refusal that caused it, if any.
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revocation_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revocation_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # SHA-256 (hex) of the exact CSR bytes the certificate was ordered with (see hotcache).
    csr_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


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


class EntitlementLapse(Base):
    """A database that stopped being entitled at ``since``; its certificates are revoked once
    the grace period has passed, and the row goes when the entitlement comes back."""

    __tablename__ = "entitlement_lapses"

    db_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class HubSighting(Base):
    """A hub installation (its fingerprint) that reported a database uuid."""

    __tablename__ = "hub_sightings"

    db_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_reported_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the hub's own time
    verdict: Mapped[str] = mapped_column(String(16))  # SightingVerdict


class AuditEntry(Base):
    """One line of the audit log: what happened, when, who did it, to which database."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_db_at", "db_uuid", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    db_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subscription_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text)


class ApiToken(Base):
    """A token of the admin API: a public id and the scrypt hash of its secret."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class PortalAccount(Base):
    """A customer's login to the portal (e-mail address, scrypt hash of the password)."""

    __tablename__ = "portal_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PortalAccountSubscription(Base):
    __tablename__ = "portal_account_subscriptions"

    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id"), primary_key=True, index=True
    )


class PortalSession(Base):
    """A logged-in portal session, keyed by the SHA-256 of its cookie (never the cookie), so
    every issuer behind a load balancer knows it."""

    __tablename__ = "portal_sessions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CacheGeneration(Base):
    """One row: how many changes the issuers' caches must have seen (see
    :mod:`boxcert.issuer.hotcache`). Written only by the triggers of migration 0006."""

    __tablename__ = "cache_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class CacheChange(Base):
    """What one generation changed: a database's facts (``holder_label`` None) or a holder."""

    __tablename__ = "cache_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)
    db_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    holder_label: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The database's own clock (set by the trigger's insert), compared only there (pruning).
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


# The TXT table is shared with the DNS server (boxcert.storage.txt) but created by our
# migrations: it belongs to this schema too.
TxtBase.metadata.tables["txt_records"].to_metadata(Base.metadata)
