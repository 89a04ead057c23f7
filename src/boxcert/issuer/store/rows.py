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
    duplicate_since: datetime | None = None
    max_boxes: int | None = None  # its own box cap; None: the issuer's --max-boxes


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
    csr_sha256: str | None = None  # the exact CSR's digest (hex), for a box's certificate


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
    revocation_reason: str | None = None  # x509.ReasonFlags value
    revocation_code: str | None = None  # the refusal that caused it, if any
    revocation_message: str | None = None
    csr_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class LapseRow:
    db_uuid: str
    since: datetime
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class SightingRow:
    db_uuid: str
    fingerprint: str
    first_seen: datetime
    last_seen: datetime
    verdict: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry; ``id`` is None until stored."""

    at: datetime
    kind: str
    actor: str
    detail: str
    db_uuid: str | None = None
    subscription_id: int | None = None
    code: str | None = None
    id: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor": self.actor,
            "database": self.db_uuid,
            "subscription_id": self.subscription_id,
            "code": self.code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    name: str
    secret_hash: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    email: str
    password_hash: str
    created_at: datetime
    subscription_ids: tuple[int, ...]
