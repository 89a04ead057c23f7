"""Issued certificates: the per-holder cache, the weekly count, revocation marks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxcert.issuer.models import Certificate
from boxcert.issuer.store.rows import NewCertificate, StoredCertificate


def _row(c: Certificate) -> StoredCertificate:
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
    )


def latest_certificate(
    session: Session, holder_label: str, db_uuid: str, names: tuple[str, ...], ca_name: str
) -> StoredCertificate | None:
    """The holder's newest unrevoked certificate from ``ca_name`` for exactly ``names``.

    Keyed by the database too: a certificate (and, without a CSR, its key) is only ever handed
    to the database it was issued for, even if two databases' labels were to collide.
    """
    cert = session.scalars(
        select(Certificate)
        .where(
            Certificate.holder_label == holder_label,
            Certificate.db_uuid == db_uuid,
            Certificate.names == " ".join(names),
            Certificate.ca_name == ca_name,
            Certificate.revoked_at.is_(None),
        )
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .limit(1)
    ).first()
    return _row(cert) if cert is not None else None


def save_certificate(session: Session, new: NewCertificate) -> StoredCertificate:
    cert = Certificate(
        holder_label=new.holder_label,
        db_uuid=new.db_uuid,
        names=" ".join(new.names),
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
    )
    session.add(cert)
    session.flush()
    return _row(cert)


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
    return [_row(c) for c in rows if domain in c.names.split() or f"*.{domain}" in c.names.split()]


def mark_revoked(session: Session, certificate_id: int, now: datetime) -> bool:
    """Record a revocation; False when it was already recorded (or the row is gone)."""
    cert = session.get(Certificate, certificate_id)
    if cert is None or cert.revoked_at is not None:
        return False
    cert.revoked_at = now
    return True
