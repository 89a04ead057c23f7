"""The issuer's coordinator: one request in, a grant or a refusal out.

The order of the steps is part of the contract:

1. **Credentials and eligibility** — one statement, the same for known and unknown uuids; the
   contract code's digest compared in constant time (:mod:`.eligibility`). Nothing else
   happens for a caller who does not know a database's contract code: no CSR parsing, no
   signature check, no further query.
2. **The CSR** (:mod:`.csr`), for a box: its key, names and signature; the box's label.
   Steps 1 and 2 and the reads of step 3 and 4 run in one database-thread hop
   (:mod:`.lookup`), for every request handed over meanwhile together, so the common case
   (a known box, a cached certificate) costs one hop and a share of one statement, and the
   signature check never blocks the event loop.
3. **The box** (:mod:`.registration`): a known box of this database, or a new one within the
   cap; never a box of another database.
4. **The certificate** (:mod:`.obtain`): cached while fresh, else ordered once. From a CA
   that signs in-process (the local CA), steps 3 and 4 are one transaction (:mod:`.inline`).

A repeated request is answered from memory (:mod:`.memory` on :mod:`.hotcache`): the same
steps in the same order on cached facts, a CSR verified before (by its exact bytes) and the
holder's answer bytes, with no query and no thread hop, as long as the cache's staleness
bound holds (1 s, whichever process changed the database). Anything else takes the path
above, which uses what memory holds within that bound (facts, a CSR's label) and fills it on
its way out.

Every outcome is announced on :attr:`IssuerService.events` (:mod:`.events`).

The service also holds what runs beside the request path: the :class:`~.lifecycle.
LifecycleJob` (certificates follow the subscription), the hubs' reports
(:class:`~.duplicates.HubReports`) and the boxes' standing question (:mod:`.standing`).
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock, system_clock
from boxcert.issuer import eligibility, standing
from boxcert.issuer.audit import AuditRecorder
from boxcert.issuer.ca import CertificateAuthority, SigningAuthority
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.db import reading_sessions
from boxcert.issuer.duplicates import HubReports
from boxcert.issuer.errors import Refusal
from boxcert.issuer.events import CertificateGranted, EventBus, RequestRefused
from boxcert.issuer.health import HealthCheck
from boxcert.issuer.hotcache import HolderEntry, HotCache
from boxcert.issuer.inline import InlineObtainer
from boxcert.issuer.lifecycle import LifecycleJob
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.lookup import Ask, Lookup
from boxcert.issuer.memory import MemoryPath, entry_of
from boxcert.issuer.metrics import IssuerMetrics
from boxcert.issuer.obtain import Obtainer
from boxcert.issuer.registration import SEEN_RESOLUTION, Registrar
from boxcert.issuer.revocation import RevocationResult, Revoker
from boxcert.issuer.store import settings as stored
from boxcert.wire import CertificateRequest, Grant, canonical_uuid
from boxcert.wire.standing import StandingAnswer, StandingQuery

__all__ = ["IssuerService", "IssuerSettings"]


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
        cache: HotCache | None = None,
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
        self.obtainer = Obtainer(
            sessions, ca, self.limits, self.events, clock, registrar=self.registrar
        )
        self.inline: InlineObtainer | None = None
        if isinstance(ca, SigningAuthority) and not ca.limits_per_domain:
            # Signed in this process and never refused by the CA for a domain's count: one
            # transaction (.inline). A CA with limits takes the general path, which reads them.
            self.inline = InlineObtainer(
                sessions, ca, self.limits, self.registrar, self.obtainer, clock
            )
        self.revoker = Revoker(sessions, ca, self.events, clock)
        self.lifecycle = LifecycleJob(
            sessions, self.revoker, self.events, clock, grace=settings.revoke_grace
        )
        self.hub_reports = HubReports(sessions, self.codes, self.events, clock)
        self.audit: AuditRecorder | None = None
        if audit:
            self.audit = AuditRecorder(sessions)
            self.audit.attach(self.events)
        self.cache = cache or HotCache()
        self.cache.watch(sessions)
        reads = reading_sessions(sessions)  # the request's reads: no BEGIN, no COMMIT
        self.cache.watch(reads)  # (the report key a first request stores is a change)
        self.lookup = Lookup(
            reads,
            self.cache,
            self.codes,
            zone=settings.zone,
            ca_name=ca.name,
            database_label=self.database_label,
            inline=self.inline,
            clock=clock,
        )
        self.memory = MemoryPath(
            self.cache,
            sessions,
            self.codes,
            zone=settings.zone,
            ca_name=ca.name,
            clock=clock,
            database_label=self.database_label,
        )
        self.metrics = IssuerMetrics(self.events, sessions, ca, clock)
        self.health = HealthCheck(sessions, ca, clock)

    def close(self) -> None:
        """Store what the audit log has queued and stop its writer."""
        if self.audit is not None:
            self.audit.close()

    def database_label(self, db_uuid: str) -> str:
        return naming.database_label(db_uuid, self._label_secret)

    async def handle(self, request: CertificateRequest) -> Grant:
        """Answer one request; raises Refusal or BadRequest."""
        return (await self._answer(request)).grant

    async def answer(self, request: CertificateRequest) -> bytes:
        """:meth:`handle`'s grant as the HTTP answer's bytes (kept per holder)."""
        return (await self._answer(request)).body

    async def _answer(self, request: CertificateRequest) -> HolderEntry:
        request = replace(request, db_uuid=canonical_uuid(request.db_uuid))
        label: list[str] = []
        try:
            entry = self.memory.answer(request)
            if entry is None:
                entry = await self._handle(request, label)
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
        self.events.publish(
            CertificateGranted(
                self.clock(),
                request.db_uuid,
                entry.label,
                entry.for_box,
                entry.serial_hex,
                entry.not_after,
                entry.from_cache,
            )
        )
        return entry

    # --- from the database ------------------------------------------------------------------

    async def _handle(self, request: CertificateRequest, label_out: list[str]) -> HolderEntry:
        ask = Ask(request, label_out)
        found = await self.lookup(ask)
        if isinstance(found, eligibility.Verdict):
            assert found.code is not None
            raise Refusal(found.code, found.message)
        holder, seen = found.holder, found.seen
        if found.signed is not None:
            assert self.inline is not None
            cert, from_cache = await self.inline.store(found.signed)
        else:
            if holder.for_box:
                await self.registrar.register(
                    holder.label, request.db_uuid, request.identifier, seen
                )
            cert, from_cache = await self.obtainer.obtain(
                holder, found.csr, found.cached, found.csr_sha256, request.identifier
            )
        box_seen = None
        if holder.for_box:
            box_seen = seen.last_seen if seen is not None else None
            if box_seen is None or self.clock() - box_seen >= SEEN_RESOLUTION:
                box_seen = self.clock()  # the registration has just written it
        entry = entry_of(holder, cert, box_seen, from_cache)
        self.cache.put_holder(found.epoch, replace(entry, from_cache=True))
        return entry

    async def revoke_domain(self, domain: str) -> RevocationResult:
        return await self.revoker.revoke_domain(domain)

    async def standing(self, query: StandingQuery) -> StandingAnswer:
        """Whether a box's certificate still stands; raises Refusal for wrong credentials."""
        return await standing.answer(self.sessions, self.codes, query)
