"""Revocation: withdraw the certificates that cover a name, at the CA and in the store.

Today an operator runs it (``boxcert issuer revoke --domain``); a lifecycle job that revokes
when a subscription ends will call the same :meth:`Revoker.revoke_domain`. Each revocation is
announced as :class:`~boxcert.issuer.events.CertificateRevoked`. Certificates another CA
backend issued are reported, not touched: only the backend that issued one can revoke it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.db import run_in_session
from boxcert.issuer.events import CertificateRevoked, EventBus
from boxcert.issuer.store import certificates

log = logging.getLogger(__name__)


@dataclass
class RevocationResult:
    revoked: list[str] = field(default_factory=list)  # serials
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (serial, CA backend name)


class Revoker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        events: EventBus,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.events = events
        self.clock = clock

    async def revoke_domain(self, domain: str) -> RevocationResult:
        """Revoke the valid certificates covering ``domain`` that our CA backend issued."""
        found = await run_in_session(
            self.sessions, lambda s: certificates.certificates_for_domain(s, domain)
        )
        result = RevocationResult()
        for cert in found:
            if cert.ca_name != self.ca.name:
                result.skipped.append((cert.serial_hex, cert.ca_name))
                continue
            await self.ca.revoke(cert.chain_pem)
            now = self.clock()
            mark = functools.partial(certificates.mark_revoked, certificate_id=cert.id, now=now)
            await run_in_session(self.sessions, mark)
            log.info("revoked %s (%s)", cert.serial_hex, domain)
            result.revoked.append(cert.serial_hex)
            self.events.publish(
                CertificateRevoked(
                    now, cert.db_uuid, cert.holder_label, cert.serial_hex, cert.ca_name
                )
            )
        return result
