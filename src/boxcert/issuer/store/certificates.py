"""Issued certificates: the per-holder cache, the weekly count, revocation marks, and the
reads of the lifecycle job, the CRL, the boxes' standing question, the portal and the API."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, insert, select
from sqlalchemy.orm import Session

from boxcert.issuer.models import Box, Certificate, Database, Subscription
from boxcert.issuer.store import core
from boxcert.issuer.store.rows import BoxRow, NewCertificate, StoredCertificate

_TABLE: Any = Certificate.__table__
# Built once (see :mod:`.boxes`): the request path's read and the order's insert.
_LATEST = (
    select(_TABLE)
    .where(
        _TABLE.c.holder_label == bindparam("holder_label"),
        _TABLE.c.db_uuid == bindparam("db_uuid"),
        _TABLE.c.names == bindparam("names"),
        _TABLE.c.ca_name == bindparam("ca_name"),
        _TABLE.c.revoked_at.is_(None),
    )
    .order_by(_TABLE.c.issued_at.desc(), _TABLE.c.id.desc())
    .limit(1)
)
_SAVE = insert(_TABLE).returning(_TABLE.c.id)
# A request's two reads in one statement: the box (if the holder is one) beside the holder's
# newest certificate, each joined to a one-row table of the label asked for.
_ASKED = select(bindparam("holder_label", type_=String).label("asked")).subquery("asked")
_BOX_COLUMNS = ("label", "db_uuid", "identifier", "first_seen", "last_seen")
_BOX_AND_LATEST = select(
    *(Box.__table__.c[name].label(f"box_{name}") for name in _BOX_COLUMNS), _TABLE
).select_from(
    _ASKED.outerjoin(Box.__table__, Box.__table__.c.label == _ASKED.c.asked).outerjoin(
        _TABLE, _TABLE.c.id == _LATEST.with_only_columns(_TABLE.c.id).scalar_subquery()
    )
)
# A batch's holders at once (:mod:`boxcert.issuer.inline`, :mod:`boxcert.issuer.lookup`):
# each holder's newest unrevoked certificate, ranked in the database so that a box's history
# (a renewal every two months, never pruned) is not read with it.
_RANKED = (
    select(
        _TABLE,
        func.row_number()
        .over(
            partition_by=(_TABLE.c.holder_label, _TABLE.c.db_uuid, _TABLE.c.names),
            order_by=(_TABLE.c.issued_at.desc(), _TABLE.c.id.desc()),
        )
        .label("rank"),
    )
    .where(
        _TABLE.c.holder_label.in_(bindparam("labels", expanding=True)),
        _TABLE.c.ca_name == bindparam("ca_name"),
        _TABLE.c.revoked_at.is_(None),
    )
    .subquery("ranked")
)
_NEWEST_OF = select(*(c for c in _RANKED.c if c.name != "rank")).where(_RANKED.c.rank == 1)
_SAVE_MANY = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)

HolderKey = tuple[str, str, tuple[str, ...]]  # (holder label, database uuid, names)
_BOXES: Any = Box.__table__
_CURRENT_SINCE = (
    select(_TABLE, _BOXES.c.db_uuid.label("box_db_uuid"), _BOXES.c.last_seen.label("box_seen"))
    .outerjoin(_BOXES, _BOXES.c.label == _TABLE.c.holder_label)
    .where(
        _TABLE.c.id > bindparam("after"),
        _TABLE.c.ca_name == bindparam("ca_name"),
        _TABLE.c.revoked_at.is_(None),
        _TABLE.c.not_after > bindparam("now"),
    )
    .order_by(_TABLE.c.id)
    .limit(bindparam("limit"))
)


def row_of(c: Certificate) -> StoredCertificate:
    return StoredCertificate(
        id=c.id,
        holder_label=c.holder_label,
        db_uuid=c.db_uuid,
        names=tuple(c.names.split()),
        subject_cn=c.subject_cn,
        chain_pem=c.chain_pem,
        private_key_pem=c.private_key_pem,
        serial_hex=c.serial_hex,
        ca_name=c.ca_name,
        registered_domain=c.registered_domain,
        not_before=c.not_before,
        not_after=c.not_after,
        renew_after=c.renew_after,
        ari_id=c.ari_id,
        issued_at=c.issued_at,
        replaces_id=c.replaces_id,
        revoked_at=c.revoked_at,
        revocation_reason=c.revocation_reason,
        revocation_code=c.revocation_code,
        revocation_message=c.revocation_message,
        csr_sha256=c.csr_sha256,
    )


def latest_certificate(
    session: Session, holder_label: str, db_uuid: str, names: tuple[str, ...], ca_name: str
) -> StoredCertificate | None:
    """The holder's newest unrevoked certificate from ``ca_name`` for exactly ``names``.

    Keyed by the database too: a certificate (and, without a CSR, its key) is only ever handed
    to the database it was issued for, even if two databases' labels were to collide.
    """
    params = _holder_params(holder_label, db_uuid, names, ca_name)
    row = core.connection(session).execute(_LATEST, params).mappings().first()
    return _certificate(row) if row is not None else None


def _holder_params(
    holder_label: str, db_uuid: str, names: tuple[str, ...], ca_name: str
) -> dict[str, str]:
    return {
        "holder_label": holder_label,
        "db_uuid": db_uuid,
        "names": " ".join(names),
        "ca_name": ca_name,
    }


def _certificate(row: Mapping[Any, Any]) -> StoredCertificate:
    """A certificate row as read by a built statement (names are stored space-separated)."""
    return StoredCertificate(**{**row, "names": tuple(row["names"].split())})


def box_and_latest(
    session: Session, holder_label: str, db_uuid: str, names: tuple[str, ...], ca_name: str
) -> tuple[BoxRow | None, StoredCertificate | None]:
    """The box ``holder_label`` (whichever database it is of) and :func:`latest_certificate`,
    in one statement: a request's reads cost one round trip to PostgreSQL."""
    params = _holder_params(holder_label, db_uuid, names, ca_name)
    row = core.connection(session).execute(_BOX_AND_LATEST, params).mappings().one()
    box = None
    if row["box_label"] is not None:
        box = BoxRow(*(row[f"box_{name}"] for name in _BOX_COLUMNS))
    cert = None
    if row["id"] is not None:
        cert = _certificate({k: v for k, v in row.items() if not k.startswith("box_")})
    return box, cert


def latest_certificates(
    session: Session, holders: Collection[HolderKey], ca_name: str
) -> dict[HolderKey, StoredCertificate]:
    """:func:`latest_certificate` for several holders in one statement; the ones that have
    one."""
    if not holders:
        return {}
    wanted = set(holders)
    params = {"labels": sorted({label for label, _, _ in wanted}), "ca_name": ca_name}
    latest: dict[HolderKey, StoredCertificate] = {}
    for row in core.connection(session).execute(_NEWEST_OF, params).mappings():
        cert = _certificate(row)
        key = (cert.holder_label, cert.db_uuid, cert.names)
        if key in wanted:
            latest[key] = cert
    return latest


@dataclass(frozen=True, slots=True)
class Held:
    """A valid certificate with what is known of its holder (see :func:`current_since`)."""

    certificate: StoredCertificate
    box_db_uuid: str | None  # the box's database, None when the holder is no box
    box_seen: datetime | None


def current_since(
    session: Session, after_id: int, ca_name: str, now: datetime, limit: int
) -> list[Held]:
    """Unrevoked, unexpired certificates of ``ca_name`` with an id above ``after_id``, oldest
    first, at most ``limit`` (the caches' warm-up follows new certificates with it)."""
    params = {"after": after_id, "ca_name": ca_name, "now": now, "limit": limit}
    found = []
    for row in core.connection(session).execute(_CURRENT_SINCE, params).mappings():
        values = {k: v for k, v in row.items() if k not in ("box_db_uuid", "box_seen")}
        values["names"] = tuple(values["names"].split())
        found.append(Held(StoredCertificate(**values), row["box_db_uuid"], row["box_seen"]))
    return found


def save_certificate(session: Session, new: NewCertificate) -> StoredCertificate:
    certificate_id = core.connection(session).execute(_SAVE, _values(new)).scalar_one()
    return _stored(certificate_id, new)


def save_certificates(session: Session, new: Sequence[NewCertificate]) -> list[StoredCertificate]:
    """Store several certificates in one statement; the stored rows, in ``new``'s order."""
    if not new:
        return []
    ids = core.connection(session).execute(_SAVE_MANY, [_values(n) for n in new]).scalars()
    return [_stored(certificate_id, n) for certificate_id, n in zip(ids, new, strict=True)]


def _values(new: NewCertificate) -> dict[str, Any]:
    return {
        "holder_label": new.holder_label,
        "db_uuid": new.db_uuid,
        "names": " ".join(new.names),
        "subject_cn": new.subject_cn,
        "chain_pem": new.chain_pem,
        "private_key_pem": new.private_key_pem,
        "serial_hex": new.serial_hex,
        "ca_name": new.ca_name,
        "registered_domain": new.registered_domain,
        "not_before": new.not_before,
        "not_after": new.not_after,
        "renew_after": new.renew_after,
        "ari_id": new.ari_id,
        "issued_at": new.issued_at,
        "replaces_id": new.replaces_id,
        "csr_sha256": new.csr_sha256,
    }


def _stored(certificate_id: int, new: NewCertificate) -> StoredCertificate:
    return StoredCertificate(
        id=certificate_id,
        holder_label=new.holder_label,
        db_uuid=new.db_uuid,
        names=tuple(new.names),
        subject_cn=new.subject_cn,
        chain_pem=new.chain_pem,
        private_key_pem=new.private_key_pem,
        serial_hex=new.serial_hex,
        ca_name=new.ca_name,
        registered_domain=new.registered_domain,
        not_before=new.not_before,
        not_after=new.not_after,
        renew_after=new.renew_after,
        ari_id=new.ari_id,
        issued_at=new.issued_at,
        replaces_id=new.replaces_id,
        revoked_at=None,
        csr_sha256=new.csr_sha256,
    )


def first_certificates_since(
    session: Session, registered_domain: str, ca_name: str, since: datetime
) -> int:
    """Certificates from ``ca_name`` for ``registered_domain`` issued since ``since`` that were
    a holder's first (renewals replace another one and are exempt from public CAs' limits)."""
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


def certificates_for_domain(session: Session, domain: str) -> list[StoredCertificate]:
    """Unrevoked certificates whose names include ``domain`` (or its wildcard)."""
    domain = domain.lower().rstrip(".")
    rows = session.scalars(
        select(Certificate)
        .where(
            Certificate.revoked_at.is_(None),
            Certificate.names.contains(domain),  # narrows; the exact test is below
        )
        .order_by(Certificate.id)
    ).all()
    return [
        row_of(c) for c in rows if domain in c.names.split() or f"*.{domain}" in c.names.split()
    ]


def mark_revoked(
    session: Session,
    certificate_id: int,
    now: datetime,
    reason: str = "unspecified",
    code: str | None = None,
    message: str | None = None,
) -> bool:
    """Record a revocation; False when it was already recorded (or the row is gone)."""
    cert = session.get(Certificate, certificate_id)
    if cert is None or cert.revoked_at is not None:
        return False
    cert.revoked_at = now
    cert.revocation_reason = reason
    cert.revocation_code = code
    cert.revocation_message = message
    return True


def get_certificate(session: Session, certificate_id: int) -> StoredCertificate | None:
    cert = session.get(Certificate, certificate_id)
    return row_of(cert) if cert is not None else None


def by_serial(session: Session, serial_hex: str) -> list[StoredCertificate]:
    """Certificates with this serial (one per CA in practice; serials are random)."""
    rows = session.scalars(
        select(Certificate).where(Certificate.serial_hex == serial_hex).order_by(Certificate.id)
    ).all()
    return [row_of(c) for c in rows]


def unrevoked_of_database(session: Session, db_uuid: str, now: datetime) -> list[StoredCertificate]:
    """The database's certificates that are neither revoked nor expired."""
    rows = session.scalars(
        select(Certificate)
        .where(
            Certificate.db_uuid == db_uuid,
            Certificate.revoked_at.is_(None),
            Certificate.not_after > now,
        )
        .order_by(Certificate.id)
    ).all()
    return [row_of(c) for c in rows]


def of_database(session: Session, db_uuid: str, limit: int = 500) -> list[StoredCertificate]:
    """The database's certificates, newest first."""
    rows = session.scalars(
        select(Certificate)
        .where(Certificate.db_uuid == db_uuid)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .limit(limit)
    ).all()
    return [row_of(c) for c in rows]


def listing(
    session: Session,
    *,
    db_uuid: str | None = None,
    revoked: bool | None = None,
    limit: int = 500,
    before_id: int | None = None,
) -> list[StoredCertificate]:
    """Certificates newest first (by id), at most ``limit``; ``before_id``: only those older
    than that one (the next page after a page whose last id it is)."""
    query = select(Certificate)
    if before_id is not None:
        query = query.where(Certificate.id < before_id)
    if db_uuid is not None:
        query = query.where(Certificate.db_uuid == db_uuid)
    if revoked is not None:
        query = query.where(
            Certificate.revoked_at.is_not(None) if revoked else Certificate.revoked_at.is_(None)
        )
    rows = session.scalars(query.order_by(Certificate.id.desc()).limit(limit)).all()
    return [row_of(c) for c in rows]


def revoked_for_crl(
    session: Session, ca_name: str, now: datetime
) -> list[tuple[str, datetime, str]]:
    """(serial, revoked at, reason) of ``ca_name``'s revoked certificates not yet expired."""
    rows = session.execute(
        select(Certificate.serial_hex, Certificate.revoked_at, Certificate.revocation_reason)
        .where(
            Certificate.ca_name == ca_name,
            Certificate.revoked_at.is_not(None),
            Certificate.not_after > now,
        )
        .order_by(Certificate.id)
    ).all()
    return [(serial, at, reason or "unspecified") for serial, at, reason in rows if at]


def standing_facts(
    session: Session, db_uuid: str, serial_hex: str
) -> tuple[str, StoredCertificate | None] | None:
    """For a box's "does my certificate still stand?": the subscription's code digest and the
    database's certificate with this serial (None if it has none), in one indexed statement;
    None when the database is unknown."""
    row = session.execute(
        select(Subscription.code_digest, Certificate)
        .select_from(Database)
        .join(Subscription, Subscription.id == Database.subscription_id)
        .outerjoin(
            Certificate,
            (Certificate.db_uuid == Database.uuid) & (Certificate.serial_hex == serial_hex),
        )
        .where(Database.uuid == db_uuid)
        .limit(1)
    ).first()
    if row is None:
        return None
    digest, cert = row
    return digest, (row_of(cert) if cert is not None else None)
