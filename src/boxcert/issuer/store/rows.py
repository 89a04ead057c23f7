"""Typed rows the store hands out: frozen, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: int
    code_hint: str
    state: str
    lines: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DatabaseRow:
    uuid: str
    kind: str
    subscription_id: int
    boxes: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BoxRow:
    label: str
    db_uuid: str
    identifier: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class NewCertificate:
    """A certificate just obtained, to be stored."""

    holder_label: str
    db_uuid: str
    names: tuple[str, ...]
    subject_cn: str
    chain_pem: str
    private_key_pem: str | None
    serial_hex: str
    ca_name: str
    registered_domain: str
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None
    ari_id: str | None
    issued_at: datetime
    replaces_id: int | None


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    id: int
    holder_label: str
    db_uuid: str
    names: tuple[str, ...]
    subject_cn: str
    chain_pem: str
    private_key_pem: str | None
    serial_hex: str
    ca_name: str
    registered_domain: str
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None
    ari_id: str | None
    issued_at: datetime
    replaces_id: int | None
    revoked_at: datetime | None
