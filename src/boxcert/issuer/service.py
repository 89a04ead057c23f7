"""The issuer's coordinator: one request in, a grant or a refusal out.

The order of the steps is part of the contract:

1. **Credentials and eligibility** — one statement, the same for known and unknown uuids; the
   contract code's digest compared in constant time (:mod:`.eligibility`). Nothing else
   happens for a caller who does not know a database's contract code: no CSR parsing, no
   signature check, no further query.
2. **The CSR** (:mod:`.csr`), for a box: its key, names and signature; the box's label.
   Steps 1 and 2 and the reads of step 3 and 4 run in one worker-thread hop and one
   transaction, so the common case (a known box, a cached certificate) costs one hop, and
   the signature check never blocks the event loop.
3. **The box** (:mod:`.registration`): a known box of this database, or a new one within the
   cap; never a box of another database.
4. **The certificate** (:mod:`.obtain`): cached while fresh, else ordered once.

Every outcome is announced on :attr:`IssuerService.events` (:mod:`.events`).

The service also holds what runs beside the request path: the :class:`~.lifecycle.
LifecycleJob` (certificates follow the subscription), the hubs' reports
(:class:`~.duplicates.HubReports`) and the boxes' standing question (:mod:`.standing`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock, system_clock
from boxcert.issuer import eligibility, standing
from boxcert.issuer.audit import AuditRecorder
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.csr import validate_box_csr
from boxcert.issuer.db import run_in_session
from boxcert.issuer.duplicates import HubReports
from boxcert.issuer.errors import Refusal
from boxcert.issuer.events import CertificateGranted, EventBus, RequestRefused
from boxcert.issuer.lifecycle import LifecycleJob
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.obtain import Holder, Obtainer
from boxcert.issuer.registration import Registrar
from boxcert.issuer.revocation import RevocationResult, Revoker
from boxcert.issuer.store import accounts, boxes
from boxcert.issuer.store import settings as stored
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.wire import CertificateRequest, Grant, RefusalCode, canonical_uuid
from boxcert.wire.standing import StandingAnswer, StandingQuery

__all__ = ["IssuerService", "IssuerSettings"]


@dataclass(frozen=True, slots=True)
class _Found:
    """What the lookup found: who the certificate is for, and what is stored about them."""

    holder: Holder
    csr: x509.CertificateSigningRequest | None
    seen: BoxRow | None
    cached: StoredCertificate | None


class IssuerService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        settings: IssuerSettings,
        *,
        clock: Clock = system_clock,
        events: EventBus | None = None,
        audit: bool = True,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.settings = settings
        self.clock = clock
        self.events = events or EventBus()
        with sessions.begin() as session:
            self._label_secret = stored.label_secret(session)
            self.codes = stored.contract_codes_of(session)
        self.limits = OrderLimits(sessions, ca, settings, self.events, clock)
        self.registrar = Registrar(sessions, settings.max_boxes_per_database, clock)
        self.obtainer = Obtainer(sessions, ca, self.limits, self.events, clock)
        self.revoker = Revoker(sessions, ca, self.events, clock)
        self.lifecycle = LifecycleJob(
            sessions, self.revoker, self.events, clock, grace=settings.revoke_grace
        )
        self.hub_reports = HubReports(sessions, self.codes, self.events, clock)
        self.audit: AuditRecorder | None = None
        if audit:
            self.audit = AuditRecorder(sessions)
            self.audit.attach(self.events)

    def close(self) -> None:
        """Store what the audit log has queued and stop its writer."""
        if self.audit is not None:
            self.audit.close()

    def database_label(self, db_uuid: str) -> str:
        return naming.database_label(db_uuid, self._label_secret)

    async def handle(self, request: CertificateRequest) -> Grant:
        """Answer one request; raises Refusal or BadRequest."""
        request = replace(request, db_uuid=canonical_uuid(request.db_uuid))
        label: list[str] = []
        try:
            return await self._handle(request, label)
        except Refusal as refusal:
            self.events.publish(
                RequestRefused(
                    self.clock(),
                    request.db_uuid,
                    label[0] if label else None,
                    refusal.code,
                    refusal.message,
                )
            )
            raise

    async def _handle(self, request: CertificateRequest, label_out: list[str]) -> Grant:
        digest = self.codes.digest(request.enterprise_code)
        code_sent = bool(request.enterprise_code)
        zone = self.settings.zone

        def lookup(session: Session) -> _Found | eligibility.Verdict:
            # One worker-thread hop for the common case, steps 1 and 2 in their order: the
            # CSR is only read once the credentials check out (and off the event loop).
            facts = accounts.database_facts(session, request.db_uuid)
            verdict = eligibility.check(facts, digest, code_sent=code_sent)
            if (
                facts is not None
                and not facts.has_report_key
                and verdict.code is not RefusalCode.CREDENTIALS_NOT_RECOGNIZED
            ):
                # The code is in hand (and proven): derive the hubs' report key, once.
                sealed = self.codes.seal_report_key(facts.subscription_id, request.enterprise_code)
                accounts.set_report_key(session, facts.subscription_id, sealed)
            if verdict.code is not None:
                return verdict  # refused after the transaction commits (the key above)
            csr = None
            if request.csr_pem is not None:
                csr, label = validate_box_csr(request.csr_pem, zone)
            else:
                label = self.database_label(request.db_uuid)
            label_out.append(label)
            names = naming.certificate_names(label, zone)
            holder = Holder(label, request.db_uuid, names, csr is not None)
            seen = boxes.get_box(session, label) if holder.for_box else None
            return _Found(holder, csr, seen, self.obtainer.cached_in(session, holder))

        found = await run_in_session(self.sessions, lookup)
        if isinstance(found, eligibility.Verdict):
            assert found.code is not None
            raise Refusal(found.code, found.message)
        holder, csr, seen, cached = found.holder, found.csr, found.seen, found.cached
        label = holder.label
        if holder.for_box:
            await self.registrar.register(label, request.db_uuid, request.identifier, seen)
        cert, from_cache = await self.obtainer.obtain(holder, csr, cached)
        self.events.publish(
            CertificateGranted(
                self.clock(),
                request.db_uuid,
                label,
                holder.for_box,
                cert.serial_hex,
                cert.not_after,
                from_cache,
            )
        )
        return Grant(
            x509_pem=cert.chain_pem,
            subject_cn=cert.subject_cn,
            domain=holder.names[1],
            not_after=cert.not_after,
            private_key_pem=cert.private_key_pem if not holder.for_box else None,
        )

    async def revoke_domain(self, domain: str) -> RevocationResult:
        return await self.revoker.revoke_domain(domain)

    async def standing(self, query: StandingQuery) -> StandingAnswer:
        """Whether a box's certificate still stands; raises Refusal for wrong credentials."""
        return await standing.answer(self.sessions, self.codes, query)
