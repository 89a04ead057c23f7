"""The issuer's storage: SQL around the pure parts. Every function takes a Session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer.eligibility import DatabaseFacts
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.models import (
    Box,
    Certificate,
    Database,
    DatabaseKind,
    Setting,
    Subscription,
    SubscriptionLine,
    SubscriptionState,
)

LABEL_SECRET_KEY = "database_label_secret"  # noqa: S105 - a row name, not a secret


class NotFound(IssuerError):
    pass


class AlreadyExists(IssuerError):
    pass


def database_facts(session: Session, db_uuid: str) -> DatabaseFacts | None:
    row = session.execute(
        select(Database, Subscription)
        .join(Subscription, Subscription.code == Database.subscription_code)
        .where(Database.uuid == db_uuid)
    ).first()
    if row is None:
        return None
    database, subscription = row
    return DatabaseFacts(
        uuid=database.uuid,
        kind=database.kind,
        subscription_code=subscription.code,
        subscription_state=subscription.state,
        subscription_lines=tuple(line.product_name for line in subscription.lines),
    )


# --- administration -------------------------------------------------------------------------


def add_subscription(
    session: Session, code: str, state: SubscriptionState, lines: list[str], now: datetime
) -> None:
    if session.get(Subscription, code) is not None:
        raise AlreadyExists(f"subscription {code!r} already exists")
    sub = Subscription(code=code, state=state.value, created_at=now)
    sub.lines = [SubscriptionLine(product_name=name) for name in lines]
    session.add(sub)


def _subscription(session: Session, code: str) -> Subscription:
    sub = session.get(Subscription, code)
    if sub is None:
        raise NotFound(f"no subscription {code!r}")
    return sub


def set_subscription_state(session: Session, code: str, state: SubscriptionState) -> None:
    _subscription(session, code).state = state.value


def add_subscription_line(session: Session, code: str, product_name: str) -> None:
    sub = _subscription(session, code)  # keep a reference while the lines change
    sub.lines.append(SubscriptionLine(product_name=product_name))


def list_subscriptions(session: Session) -> list[dict[str, object]]:
    subs = session.scalars(select(Subscription).order_by(Subscription.created_at)).all()
    return [
        {"code": s.code, "state": s.state, "lines": [line.product_name for line in s.lines]}
        for s in subs
    ]


def add_database(
    session: Session, uuid: str, kind: DatabaseKind, subscription_code: str, now: datetime
) -> None:
    _subscription(session, subscription_code)
    if session.get(Database, uuid) is not None:
        raise AlreadyExists(f"database {uuid!r} already exists")
    session.add(
        Database(uuid=uuid, kind=kind.value, subscription_code=subscription_code, created_at=now)
    )


def set_database_kind(session: Session, uuid: str, kind: DatabaseKind) -> None:
    database = session.get(Database, uuid)
    if database is None:
        raise NotFound(f"no database {uuid!r}")
    database.kind = kind.value


def list_databases(session: Session) -> list[dict[str, object]]:
    rows = session.scalars(select(Database).order_by(Database.created_at)).all()
    counts: dict[str, int] = {
        uuid: count
        for uuid, count in session.execute(
            select(Box.db_uuid, func.count()).group_by(Box.db_uuid)
        ).all()
    }
    return [
        {
            "uuid": d.uuid,
            "kind": d.kind,
            "subscription": d.subscription_code,
            "boxes": counts.get(d.uuid, 0),
        }
        for d in rows
    ]


# --- boxes and certificates -----------------------------------------------------------------


def count_boxes(session: Session, db_uuid: str) -> int:
    return session.scalar(select(func.count()).select_from(Box).where(Box.db_uuid == db_uuid)) or 0


@dataclass(frozen=True, slots=True)
class BoxSeen:
    db_uuid: str
    last_seen: datetime


def box_seen(session: Session, label: str) -> BoxSeen | None:
    box = session.get(Box, label)
    return BoxSeen(box.db_uuid, box.last_seen) if box is not None else None


def box_known(session: Session, label: str, db_uuid: str) -> bool:
    box = session.get(Box, label)
    return box is not None and box.db_uuid == db_uuid


def touch_box(session: Session, label: str, db_uuid: str, identifier: str, now: datetime) -> None:
    box = session.get(Box, label)
    if box is None:
        session.add(
            Box(label=label, db_uuid=db_uuid, identifier=identifier, first_seen=now, last_seen=now)
        )
    else:
        box.db_uuid = db_uuid
        box.last_seen = now
        if identifier:
            box.identifier = identifier


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    id: int
    holder_label: str
    names: tuple[str, ...]
    chain_pem: str
    private_key_pem: str | None
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None
    ari_id: str | None
    ca_name: str


def _stored(c: Certificate) -> StoredCertificate:
    return StoredCertificate(
        id=c.id,
        holder_label=c.holder_label,
        names=tuple(c.names.split()),
        chain_pem=c.chain_pem,
        private_key_pem=c.private_key_pem,
        not_before=c.not_before,
        not_after=c.not_after,
        renew_after=c.renew_after,
        ari_id=c.ari_id,
        ca_name=c.ca_name,
    )


def latest_certificate(
    session: Session, holder_label: str, names: tuple[str, ...], ca_name: str
) -> StoredCertificate | None:
    cert = session.scalars(
        select(Certificate)
        .where(
            Certificate.holder_label == holder_label,
            Certificate.names == " ".join(names),
            Certificate.ca_name == ca_name,
            Certificate.revoked_at.is_(None),
        )
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .limit(1)
    ).first()
    return _stored(cert) if cert is not None else None


def save_certificate(session: Session, cert: Certificate) -> int:
    session.add(cert)
    session.flush()
    return cert.id


def issued_since(session: Session, registered_domain: str, ca_name: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(
                Certificate.registered_domain == registered_domain,
                Certificate.ca_name == ca_name,
                Certificate.issued_at >= since,
                Certificate.replaces_id.is_(None),
            )
        )
        or 0
    )


@dataclass(frozen=True, slots=True)
class CertificateRef:
    id: int
    serial_hex: str
    ca_name: str
    chain_pem: str


def certificates_for_domain(session: Session, domain: str) -> list[CertificateRef]:
    """Unrevoked certificates whose names include ``domain`` (or its wildcard)."""
    domain = domain.lower().rstrip(".")
    rows = session.scalars(
        select(Certificate).where(
            Certificate.revoked_at.is_(None),
            Certificate.names.contains(domain),  # narrows; the exact test is below
        )
    ).all()
    return [
        CertificateRef(c.id, c.serial_hex, c.ca_name, c.chain_pem)
        for c in rows
        if domain in c.names.split() or f"*.{domain}" in c.names.split()
    ]


def mark_revoked(session: Session, certificate_id: int, now: datetime) -> None:
    cert = session.get(Certificate, certificate_id)
    if cert is not None and cert.revoked_at is None:
        cert.revoked_at = now


# --- settings -----------------------------------------------------------------


def label_secret(session: Session) -> bytes:
    """The HMAC secret for database labels; made once and shared by every issuer."""
    row = session.get(Setting, LABEL_SECRET_KEY)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Setting(key=LABEL_SECRET_KEY, value=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another issuer made it first; use theirs
        row = session.get(Setting, LABEL_SECRET_KEY)
        assert row is not None
    return bytes.fromhex(row.value)
