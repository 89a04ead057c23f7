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

A repeated request is answered from memory (:mod:`.hotcache`): the same steps in the same
order on cached facts, a CSR verified before (by its exact bytes) and the holder's answer
bytes, with no query and no thread hop, as long as the cache's staleness bound holds (1 s,
whichever process changed the database). Anything else takes the path above and fills the
cache on its way out.

Every outcome is announced on :attr:`IssuerService.events` (:mod:`.events`).

The service also holds what runs beside the request path: the :class:`~.lifecycle.
LifecycleJob` (certificates follow the subscription), the hubs' reports
(:class:`~.duplicates.HubReports`) and the boxes' standing question (:mod:`.standing`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock, system_clock
from boxcert.issuer import answers, eligibility, standing
from boxcert.issuer.audit import AuditRecorder
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.csr import parse_csr, validate_box_csr
from boxcert.issuer.db import run_in_session
from boxcert.issuer.duplicates import HubReports
from boxcert.issuer.errors import Refusal
from boxcert.issuer.events import CertificateGranted, EventBus, RequestRefused
from boxcert.issuer.health import HealthCheck
from boxcert.issuer.hotcache import HolderEntry, HotCache, Missing
from boxcert.issuer.lifecycle import LifecycleJob
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.metrics import IssuerMetrics
from boxcert.issuer.obtain import Holder, Obtainer, fresh_between, is_fresh
from boxcert.issuer.registration import SEEN_RESOLUTION, Registrar
from boxcert.issuer.revocation import RevocationResult, Revoker
from boxcert.issuer.store import accounts, boxes, certificates
from boxcert.issuer.store import settings as stored
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.wire import CertificateRequest, Grant, RefusalCode, canonical_uuid
from boxcert.wire.standing import StandingAnswer, StandingQuery

__all__ = ["IssuerService", "IssuerSettings"]

log = logging.getLogger(__name__)
WARM_BATCH = 2000  # certificates read by the warm-up in one statement
WARM_ROUNDS = 10  # statements per look at the change feed, at most


@dataclass(frozen=True, slots=True)
class _Found:
    """What the lookup found: who the certificate is for, and what is stored about them."""

    holder: Holder
    csr: x509.CertificateSigningRequest | None
    seen: BoxRow | None
    cached: StoredCertificate | None
    epoch: int  # the cache's epoch before the reads (see HotCache.epoch)


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
        self.cache = cache or HotCache()
        self.cache.watch(sessions)
        self._refreshing: asyncio.Task[None] | None = None
        self._refresh_failed = False
        self._warming = threading.Lock()
        self._warm_after = 0  # the newest certificate id the warm-up has looked at
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
            entry = self._from_memory(request)
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

    # --- from memory ------------------------------------------------------------------------

    def _from_memory(self, request: CertificateRequest) -> HolderEntry | None:
        """The answer when memory holds everything it needs (steps 1-4, same order, same
        rules); None to take the database path. Raises the refusal a cached verdict gives."""
        cache = self.cache
        if not cache.usable():
            return None
        if cache.refresh_due():
            self._refresh_soon()
        facts = cache.facts(request.db_uuid)
        if isinstance(facts, Missing):
            return None
        digest = self.codes.digest(request.enterprise_code)
        verdict = eligibility.check(facts, digest, code_sent=bool(request.enterprise_code))
        if (
            facts is not None
            and not facts.has_report_key
            and verdict.code is not RefusalCode.CREDENTIALS_NOT_RECOGNIZED
        ):
            return None  # the database path stores the hubs' report key first
        if verdict.code is not None:
            raise Refusal(verdict.code, verdict.message)
        if request.csr_pem is None:
            label: str | None = self.database_label(request.db_uuid)
        else:
            label = cache.csr_label(_csr_digest(request.csr_pem))
        entry = cache.holder(label) if label is not None else None
        if (
            entry is None
            or entry.db_uuid != request.db_uuid
            or entry.for_box != (request.csr_pem is not None)
        ):
            return None
        now = self.clock()
        if entry.box_seen is not None and now - entry.box_seen >= SEEN_RESOLUTION:
            return None  # time to note that the box was seen
        if not fresh_between(entry.not_before, entry.not_after, entry.renew_after, now):
            return None
        return entry

    async def feed_epoch(self) -> int:
        """The cache's epoch after a read of the change feed when one is due: it moves when
        anything cached changed, on this issuer or another (the CRL follows it)."""
        if self.cache.refresh_due():
            await asyncio.to_thread(self._refresh_feed)
        return self.cache.epoch()

    def _refresh_soon(self) -> None:
        """Read the change feed in the background (one read at a time)."""
        if self._refreshing is not None and not self._refreshing.done():
            return
        self._refreshing = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._refresh_feed)
        )

    def _refresh_feed(self) -> None:
        try:
            with self.sessions.begin() as session:
                self.cache.refresh(session)
            if self._warming.acquire(blocking=False):
                try:
                    self._warm()
                finally:
                    self._warming.release()
        except Exception as err:
            # The cache stays unusable past its bound; requests then read the database.
            if not self._refresh_failed:
                log.warning("cannot read the cache's change feed: %s", err)
            self._refresh_failed = True
        else:
            self._refresh_failed = False

    def _warm(self) -> None:
        """Follow the certificates issued since the last look, by this process or another
        (``--workers``, other issuers), and keep their answers: a box's next request is then
        answered from memory whichever process it reaches. A holder whose entry is dropped by
        an invalidation meanwhile is simply read again when it asks."""
        cache = self.cache
        for _ in range(WARM_ROUNDS):
            epoch = cache.epoch()
            with self.sessions.begin() as session:
                found = certificates.current_since(
                    session, self._warm_after, self.ca.name, self.clock(), WARM_BATCH
                )
            for held in found:
                self._warm_after = max(self._warm_after, held.certificate.id)
                entry = self._warm_entry(held)
                if entry is not None:
                    cache.put_holder(epoch, entry)
                    digest = held.certificate.csr_sha256
                    if entry.for_box and digest is not None:
                        cache.put_csr_label(bytes.fromhex(digest), entry.label)
            if len(found) < WARM_BATCH:
                return

    def _warm_entry(self, held: certificates.Held) -> HolderEntry | None:
        cert = held.certificate
        names = naming.certificate_names(cert.holder_label, self.settings.zone)
        if cert.names != names:
            return None  # made for another zone
        for_box = cert.private_key_pem is None
        if for_box and held.box_db_uuid != cert.db_uuid:
            return None  # no such box (removed) of that database
        if not for_box and self.database_label(cert.db_uuid) != cert.holder_label:
            return None
        holder = Holder(cert.holder_label, cert.db_uuid, names, for_box)
        return _entry(holder, cert, held.box_seen if for_box else None, from_cache=True)

    # --- from the database ------------------------------------------------------------------

    async def _handle(self, request: CertificateRequest, label_out: list[str]) -> HolderEntry:
        digest = self.codes.digest(request.enterprise_code)
        code_sent = bool(request.enterprise_code)
        zone = self.settings.zone
        cache = self.cache

        def lookup(session: Session) -> _Found | eligibility.Verdict:
            # One worker-thread hop for the common case, steps 1 and 2 in their order: the
            # CSR is only read once the credentials check out (and off the event loop).
            if not cache.usable():
                cache.refresh(session)
            epoch = cache.epoch()
            remembered = cache.facts(request.db_uuid)  # within the bound: as good as a read
            if isinstance(remembered, Missing):
                facts = accounts.database_facts(session, request.db_uuid)
            else:
                facts = remembered
            verdict = eligibility.check(facts, digest, code_sent=code_sent)
            if (
                facts is not None
                and not facts.has_report_key
                and verdict.code is not RefusalCode.CREDENTIALS_NOT_RECOGNIZED
            ):
                # The code is in hand (and proven): derive the hubs' report key, once.
                sealed = self.codes.seal_report_key(facts.subscription_id, request.enterprise_code)
                accounts.set_report_key(session, facts.subscription_id, sealed)
            else:
                cache.put_facts(epoch, request.db_uuid, facts)
            if verdict.code is not None:
                return verdict  # refused after the transaction commits (the key above)
            csr = None
            if request.csr_pem is not None:
                csr_digest = _csr_digest(request.csr_pem)
                known = cache.csr_label(csr_digest)
                if known is None:
                    csr, label = validate_box_csr(request.csr_pem, zone)
                    cache.put_csr_label(csr_digest, label)
                else:
                    label = known  # these exact bytes were verified before
            else:
                label = self.database_label(request.db_uuid)
            label_out.append(label)
            names = naming.certificate_names(label, zone)
            holder = Holder(label, request.db_uuid, names, request.csr_pem is not None)
            seen = boxes.get_box(session, label) if holder.for_box else None
            cached = self.obtainer.cached_in(session, holder)
            if holder.for_box and csr is None and not is_fresh(cached, self.clock()):
                assert request.csr_pem is not None
                csr = parse_csr(request.csr_pem)  # to order a certificate for its key
            return _Found(holder, csr, seen, cached, epoch)

        found = await run_in_session(self.sessions, lookup)
        if isinstance(found, eligibility.Verdict):
            assert found.code is not None
            raise Refusal(found.code, found.message)
        holder, csr, seen, cached = found.holder, found.csr, found.seen, found.cached
        label = holder.label
        box_seen = None
        if holder.for_box:
            await self.registrar.register(label, request.db_uuid, request.identifier, seen)
            box_seen = seen.last_seen if seen is not None else None
            if box_seen is None or self.clock() - box_seen >= SEEN_RESOLUTION:
                box_seen = self.clock()  # the registrar has just written it
        csr_hex = _csr_digest(request.csr_pem).hex() if request.csr_pem is not None else None
        cert, from_cache = await self.obtainer.obtain(holder, csr, cached, csr_hex)
        entry = _entry(holder, cert, box_seen, from_cache)
        cache.put_holder(found.epoch, replace(entry, from_cache=True))
        return entry

    async def revoke_domain(self, domain: str) -> RevocationResult:
        return await self.revoker.revoke_domain(domain)

    async def standing(self, query: StandingQuery) -> StandingAnswer:
        """Whether a box's certificate still stands; raises Refusal for wrong credentials."""
        return await standing.answer(self.sessions, self.codes, query)


def _csr_digest(csr_pem: str) -> bytes:
    return hashlib.sha256(csr_pem.encode("utf-8")).digest()


def _entry(
    holder: Holder, cert: StoredCertificate, box_seen: datetime | None, from_cache: bool
) -> HolderEntry:
    grant = Grant(
        x509_pem=cert.chain_pem,
        subject_cn=cert.subject_cn,
        domain=holder.names[1],
        not_after=cert.not_after,
        private_key_pem=cert.private_key_pem if not holder.for_box else None,
    )
    return HolderEntry(
        label=holder.label,
        db_uuid=holder.db_uuid,
        for_box=holder.for_box,
        box_seen=box_seen,
        certificate_id=cert.id,
        serial_hex=cert.serial_hex,
        not_before=cert.not_before,
        not_after=cert.not_after,
        renew_after=cert.renew_after,
        grant=grant,
        body=answers.grant_body(grant),
        from_cache=from_cache,
    )
