"""Answering from memory: the coordinator's steps on the hot cache (:mod:`.hotcache`), and the
background work that keeps the cache true and warm.

:meth:`MemoryPath.answer` runs the steps of :mod:`.service` in their order on what memory
holds — the database's facts (credentials and eligibility), the CSR's label (a CSR verified
before, by its exact bytes), the holder's entry (registered box seen within the hour, fresh
certificate) — and returns the holder's entry, raises the refusal a cached verdict gives, or
returns None for the database path. No query, no thread hop.

While requests come, every :attr:`~.hotcache.HotCache.refresh_every` a background thread
reads the change feed (:meth:`~.hotcache.HotCache.refresh`) and then the certificates issued
since its last look (:meth:`MemoryPath.warm`), by this process or any other, so that every
worker of a group, and a restarted one, answers a box from memory whichever it reaches.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock
from boxcert.issuer import answers, eligibility
from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.db import in_database_thread
from boxcert.issuer.errors import Refusal
from boxcert.issuer.hotcache import HolderEntry, HotCache, Missing
from boxcert.issuer.obtain import Holder, fresh_between
from boxcert.issuer.registration import SEEN_RESOLUTION
from boxcert.issuer.store import certificates
from boxcert.issuer.store.rows import StoredCertificate
from boxcert.wire import CertificateRequest, Grant, RefusalCode

log = logging.getLogger(__name__)
WARM_BATCH = 2000  # certificates read by the warm-up in one statement
WARM_ROUNDS = 10  # statements per look at the change feed, at most


def csr_digest(csr_pem: str) -> bytes:
    """What a verified CSR is known by: the SHA-256 of its exact bytes."""
    return hashlib.sha256(csr_pem.encode("utf-8")).digest()


def entry_of(
    holder: Holder, cert: StoredCertificate, box_seen: datetime | None, from_cache: bool
) -> HolderEntry:
    """The answer to keep for ``holder``: its grant, encoded once."""
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


class MemoryPath:
    def __init__(
        self,
        cache: HotCache,
        sessions: sessionmaker[Session],
        codes: ContractCodes,
        *,
        zone: str,
        ca_name: str,
        clock: Clock,
        database_label: Callable[[str], str],
    ) -> None:
        self.cache = cache
        self.sessions = sessions
        self.codes = codes
        self.zone = zone
        self.ca_name = ca_name
        self.clock = clock
        self.database_label = database_label
        self._refreshing: asyncio.Task[None] | None = None
        self._refresh_failed = False
        self._warming = threading.Lock()
        self._warm_after = 0  # the newest certificate id the warm-up has looked at

    def answer(self, request: CertificateRequest) -> HolderEntry | None:
        """The holder's entry when memory holds all it takes (``request.db_uuid`` canonical);
        None for the database path. Raises the Refusal a cached verdict gives."""
        cache = self.cache
        if not cache.usable():
            return None
        if cache.refresh_due():
            self.refresh_soon()
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
            label = cache.csr_label(csr_digest(request.csr_pem))
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
            await in_database_thread(lambda: self.refresh_feed(False))
        return self.cache.epoch()

    def refresh_soon(self) -> None:
        """Read the change feed (and warm up) in the background, one read at a time."""
        if self._refreshing is not None and not self._refreshing.done():
            return
        self._refreshing = asyncio.get_running_loop().create_task(
            in_database_thread(self.refresh_feed)
        )

    def refresh_feed(self, warm: bool = True) -> None:
        try:
            with self.sessions.begin() as session:
                self.cache.refresh(session)
            if warm and self._warming.acquire(blocking=False):
                try:
                    self.warm()
                finally:
                    self._warming.release()
        except Exception as err:
            # The cache stays unusable past its bound; requests then read the database.
            if not self._refresh_failed:
                log.warning("cannot read the cache's change feed: %s", err)
            self._refresh_failed = True
        else:
            self._refresh_failed = False

    def warm(self) -> None:
        """Follow the certificates issued since the last look, by this process or another
        (``--workers``, other issuers), and keep their answers. A holder whose entry an
        invalidation drops meanwhile is simply read again when it asks."""
        cache = self.cache
        for _ in range(WARM_ROUNDS):
            epoch = cache.epoch()
            with self.sessions.begin() as session:
                found = certificates.current_since(
                    session, self._warm_after, self.ca_name, self.clock(), WARM_BATCH
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
        names = naming.certificate_names(cert.holder_label, self.zone)
        if cert.names != names:
            return None  # made for another zone
        for_box = cert.private_key_pem is None
        if for_box and held.box_db_uuid != cert.db_uuid:
            return None  # no such box (removed) of that database
        if not for_box and self.database_label(cert.db_uuid) != cert.holder_label:
            return None
        holder = Holder(cert.holder_label, cert.db_uuid, names, for_box)
        return entry_of(holder, cert, held.box_seen if for_box else None, from_cache=True)
