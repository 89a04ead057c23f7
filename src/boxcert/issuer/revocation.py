"""Revocation: withdraw certificates at the CA and in the store, one at a time, once each.

Every revocation — by an operator (``boxcert issuer revoke``), through the admin API, or by
the lifecycle job when an entitlement has ended — goes through
:meth:`Revoker.revoke_certificate`, which takes the holder's issuance lock (the same row in
``issuance_locks`` that :mod:`~boxcert.issuer.obtain` takes, so no order for that holder runs
meanwhile, on this issuer or another), reads the certificate again, and gives up when it is
revoked already (another issuer was first) or when ``still_due`` says the reason is gone (the
entitlement came back while it waited). Only then does it ask the CA, mark the row, and
announce :class:`~boxcert.issuer.events.CertificateRevoked`. So several issuers running the
lifecycle job revoke each certificate once.

Certificates another CA backend issued are reported, not touched: only the backend that
issued one can revoke it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import CertificateAuthorityError, LockTimeout, NotFound
from boxcert.issuer.events import CertificateRevoked, EventBus
from boxcert.issuer.locks import SqlLocker
from boxcert.issuer.store import certificates
from boxcert.issuer.store.rows import StoredCertificate
from boxcert.wire import RefusalCode

log = logging.getLogger(__name__)
LOCK_WAIT = 240.0  # an order in progress for the holder finishes first


@dataclass
class RevocationResult:
    revoked: list[str] = field(default_factory=list)  # serials
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (serial, CA backend name)


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an entitlement ended: the refusal a box now gets."""

    code: RefusalCode
    message: str


class Revoker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        events: EventBus,
        clock: Clock,
        *,
        locker: SqlLocker | None = None,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.events = events
        self.clock = clock
        self.locker = locker or SqlLocker(sessions, clock=clock)
        self.lock_wait = lock_wait

    async def revoke_certificate(
        self,
        cert: StoredCertificate,
        *,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        cause: Cause | None = None,
        actor: str = "cli",
        still_due: Callable[[Session], bool] | None = None,
    ) -> bool:
        """Revoke ``cert`` unless someone did already or ``still_due`` (run under the lock)
        says no; True when this call revoked it. Raises CertificateAuthorityError when the CA
        fails (nothing is marked then) and LockTimeout."""
        if cert.ca_name != self.ca.name:
            raise CertificateAuthorityError(
                f"certificate {cert.serial_hex} was issued by CA backend {cert.ca_name}, "
                f"not {self.ca.name}"
            )
        async with self.locker.hold(f"issue:{cert.holder_label}", timeout=self.lock_wait):

            def look_again(session: Session) -> StoredCertificate | None:
                current = certificates.get_certificate(session, cert.id)
                if current is None or current.revoked_at is not None:
                    return None
                if still_due is not None and not still_due(session):
                    return None
                return current

            current = await run_in_session(self.sessions, look_again)
            if current is None:
                return False
            await self.ca.revoke(current.chain_pem, reason)
            now = self.clock()

            def mark(session: Session) -> bool:
                return certificates.mark_revoked(
                    session,
                    cert.id,
                    now,
                    reason.value,
                    cause.code.value if cause else None,
                    cause.message if cause else None,
                )

            await run_in_session(self.sessions, mark)
        log.info(
            "revoked %s (%s) by %s: %s%s",
            cert.serial_hex,
            cert.names[1] if len(cert.names) > 1 else cert.holder_label,
            actor,
            reason.value,
            f", {cause.code.value}" if cause else "",
        )
        self.events.publish(
            CertificateRevoked(
                now,
                cert.db_uuid,
                cert.holder_label,
                cert.serial_hex,
                cert.ca_name,
                reason=reason.value,
                cause=cause.code if cause else None,
                actor=actor,
            )
        )
        return True

    async def revoke_domain(
        self,
        domain: str,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        actor: str = "cli",
    ) -> RevocationResult:
        """Revoke the valid certificates covering ``domain`` that our CA backend issued."""
        found = await run_in_session(
            self.sessions, lambda s: certificates.certificates_for_domain(s, domain)
        )
        result = RevocationResult()
        for cert in found:
            if cert.ca_name != self.ca.name:
                result.skipped.append((cert.serial_hex, cert.ca_name))
                continue
            if await self.revoke_certificate(cert, reason=reason, actor=actor):
                result.revoked.append(cert.serial_hex)
        return result

    async def revoke_serial(
        self,
        serial_hex: str,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        actor: str = "cli",
    ) -> StoredCertificate:
        """Revoke the certificate with this serial; the row as it is afterwards."""
        found = await run_in_session(self.sessions, lambda s: certificates.by_serial(s, serial_hex))
        if not found:
            raise NotFound(f"no certificate with serial {serial_hex}")
        cert = found[-1]
        if cert.revoked_at is None:
            await self.revoke_certificate(cert, reason=reason, actor=actor)
        after = await run_in_session(
            self.sessions, lambda s: certificates.get_certificate(s, cert.id)
        )
        assert after is not None
        return after


__all__ = ["Cause", "LockTimeout", "RevocationResult", "Revoker"]
