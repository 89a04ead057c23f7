"""The issuer's core flow: request → eligibility → cached or new certificate → grant.

Obtain flow (after certmagic): take the per-holder lock, look in storage again, issue, store.
So N concurrent requests for one holder lead to one CA order; the rest get its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming, pki, renewal
from boxcert.clock import Clock, system_clock
from boxcert.issuer import eligibility, store
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.csr import validate_box_csr
from boxcert.issuer.eligibility import DatabaseFacts, RefusalCode
from boxcert.issuer.errors import CertificateAuthorityError, RateLimited, Refusal
from boxcert.issuer.locks import LockTimeout, SqlLocker
from boxcert.issuer.models import Certificate
from boxcert.wire import CertificateRequest, Grant

log = logging.getLogger(__name__)
T = TypeVar("T")
RATE_LIMIT_PERIOD = timedelta(days=7)
BOX_SEEN_RESOLUTION = timedelta(hours=1)  # how fresh boxes.last_seen is kept
LOCK_WAIT = 240.0  # longer than one ACME order with its DNS wait


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    zone: str = naming.DEFAULT_ZONE
    max_boxes_per_database: int = 100
    # When the zone is on the Public Suffix List each label is its own registered domain, as
    # for Plex, Home Assistant and Tailscale; else the whole zone shares the CA's limits.
    zone_is_public_suffix: bool = False
    weekly_cap_per_domain: int = 45  # under Let's Encrypt's 50 per registered domain per week


class IssuerService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        settings: IssuerSettings,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.settings = settings
        self.clock = clock
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.locker = SqlLocker(sessions, clock=clock)
        self._ca_paused_until: dict[str, datetime] = {}
        with sessions.begin() as session:
            self._label_secret = store.label_secret(session)

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions.begin() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    def database_label(self, db_uuid: str) -> str:
        return naming.database_label(db_uuid, self._label_secret)

    async def handle(self, request: CertificateRequest) -> Grant:
        """Answer one request; raises Refusal or BadRequest."""
        zone = self.settings.zone
        csr: x509.CertificateSigningRequest | None = None
        if request.csr_pem is not None:
            csr, label = validate_box_csr(request.csr_pem, zone)
        else:
            label = self.database_label(request.db_uuid)

        names = naming.certificate_names(label, zone)
        ca_name = self.ca.name

        def lookup(
            session: Session,
        ) -> tuple[DatabaseFacts | None, store.BoxSeen | None, store.StoredCertificate | None]:
            # One read-only round trip for the common case: eligible, known box, cached. The
            # same queries run for an unknown uuid, so timing does not tell which uuids exist.
            facts = store.database_facts(session, request.db_uuid)
            seen = store.box_seen(session, label) if csr is not None else None
            cached = store.latest_certificate(session, label, names, ca_name)
            return facts, seen, cached

        facts, seen, cached = await self._db(lookup)
        verdict = eligibility.check(facts, request.enterprise_code)
        if verdict.code is not None:
            raise Refusal(verdict.code, verdict.message)

        if csr is not None:
            await self._register_box(label, request, seen)
        cert = cached if self._fresh(cached) else None
        if cert is None:
            cert = await self._certificate(label, names, request.db_uuid, csr)
        leaf = pki.load_chain(cert.chain_pem)[0]
        return Grant(
            x509_pem=cert.chain_pem,
            subject_cn=pki.common_name(leaf.subject) or names[0],
            domain=names[1],
            not_after=cert.not_after,
            private_key_pem=cert.private_key_pem if csr is None else None,
        )

    async def _register_box(
        self, label: str, request: CertificateRequest, seen: store.BoxSeen | None
    ) -> None:
        limit = self.settings.max_boxes_per_database
        now = self.clock()
        if (
            seen is not None
            and seen.db_uuid == request.db_uuid
            and now - seen.last_seen < BOX_SEEN_RESOLUTION
        ):
            return  # known and recently seen: no write on the hot path

        def register(session: Session) -> bool:
            known = store.box_known(session, label, request.db_uuid)
            if not known and store.count_boxes(session, request.db_uuid) >= limit:
                return False
            store.touch_box(session, label, request.db_uuid, request.identifier, now)
            return True

        try:
            registered = await self._db(register)
        except IntegrityError:
            # Two first requests of one box raced to insert it; the row exists now.
            registered = await self._db(register)
        if not registered:
            raise Refusal(
                RefusalCode.BOX_LIMIT_REACHED,
                f"This database already has {limit} boxes with certificates. Retire unused "
                "boxes or ask the vendor to raise the limit.",
            )

    def _fresh(self, cert: store.StoredCertificate | None) -> bool:
        """Whether a cached certificate may still be handed out.

        The issuer looks ahead by a fifteenth of the lifetime (6 days of 90): a box whose clock
        runs ahead, or that asks at the very start of its renewal window, gets a new certificate
        rather than the one it already has, which it would keep asking to replace.
        """
        if cert is None:
            return False
        window = None
        if cert.renew_after is not None:
            window = renewal.RenewalWindow(cert.renew_after, cert.renew_after)
        lead = (cert.not_after - cert.not_before) / 15
        decision = renewal.renewal_decision(
            cert.not_before, cert.not_after, self.clock() + lead, window
        )
        return not decision.due

    async def _certificate(
        self,
        label: str,
        names: tuple[str, str],
        db_uuid: str,
        csr: x509.CertificateSigningRequest | None,
    ) -> store.StoredCertificate:
        """A fresh certificate for the holder, ordered once however many ask at a time."""
        ca_name = self.ca.name

        def cached(session: Session) -> store.StoredCertificate | None:
            return store.latest_certificate(session, label, names, ca_name)

        # In-process lock first (cheap), then the cluster-wide one in the database.
        async with self._holder_lock(label):
            try:
                async with self.locker.hold(f"issue:{label}", timeout=LOCK_WAIT):
                    current = await self._db(cached)  # issued while we waited?
                    if self._fresh(current):
                        assert current is not None
                        return current
                    return await self._issue(label, names, db_uuid, csr, current)
            except LockTimeout as err:
                raise Refusal(RefusalCode.CA_FAILED, f"{err}; retry in a few minutes") from err

    @contextlib.asynccontextmanager
    async def _holder_lock(self, label: str) -> AsyncIterator[None]:
        """One in-process lock per holder, dropped when nobody holds or waits for it."""
        lock, users = self._locks.get(label, (asyncio.Lock(), 0))
        self._locks[label] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[label]
            if users <= 1:
                del self._locks[label]
            else:
                self._locks[label] = (lock, users - 1)

    def registered_domain(self, label: str) -> str:
        zone = self.settings.zone
        return f"{label}.{zone}" if self.settings.zone_is_public_suffix else zone

    async def _issue(
        self,
        label: str,
        names: tuple[str, str],
        db_uuid: str,
        csr: x509.CertificateSigningRequest | None,
        previous: store.StoredCertificate | None,
    ) -> store.StoredCertificate:
        key_pem: str | None = None
        if csr is None:
            key = pki.make_ec_key()  # compatible exchange: the issuer makes the database's key
            key_pem = pki.private_key_pem(key).decode("ascii")
            csr = pki.make_csr(key, names)
        domain = self.registered_domain(label)
        self._check_ca_pause(domain)
        if previous is None:  # renewals do not count against the weekly cap
            await self._check_weekly_cap(domain)
        try:
            issued = await self.ca.issue(
                csr, names, replaces=previous.ari_id if previous is not None else None
            )
        except RateLimited as err:
            # Honour Retry-After for this registered domain: no order for it reaches the CA
            # before then (an hour when the CA does not say).
            until = err.retry_after or self.clock() + timedelta(hours=1)
            self._ca_paused_until[domain] = until
            log.warning("CA rate limit for %s until %s: %s", domain, until.isoformat(), err)
            raise _paused(until) from err
        except CertificateAuthorityError as err:
            log.warning("CA %s failed for %s: %s", self.ca.name, names[1], err)
            raise Refusal(
                RefusalCode.CA_FAILED,
                f"The certificate authority could not issue the certificate: {err}",
            ) from err
        now = self.clock()
        row = Certificate(
            holder_label=label,
            db_uuid=db_uuid,
            names=" ".join(names),
            chain_pem=issued.chain_pem,
            private_key_pem=key_pem,
            serial_hex=issued.serial_hex,
            ca_name=self.ca.name,
            registered_domain=domain,
            not_before=issued.not_before,
            not_after=issued.not_after,
            renew_after=issued.renew_after,
            ari_id=issued.ari_id,
            issued_at=now,
            replaces_id=previous.id if previous is not None else None,
        )
        cert_id = await self._db(lambda s: store.save_certificate(s, row))
        log.info("issued %s by %s until %s", names[1], self.ca.name, issued.not_after.date())
        return store.StoredCertificate(
            id=cert_id,
            holder_label=label,
            names=names,
            chain_pem=issued.chain_pem,
            private_key_pem=key_pem,
            not_before=issued.not_before,
            not_after=issued.not_after,
            renew_after=issued.renew_after,
            ari_id=issued.ari_id,
            ca_name=self.ca.name,
        )

    def _check_ca_pause(self, domain: str) -> None:
        until = self._ca_paused_until.get(domain)
        if until is None:
            return
        if self.clock() < until:
            raise _paused(until)
        del self._ca_paused_until[domain]

    async def _check_weekly_cap(self, domain: str) -> None:
        cap = self.settings.weekly_cap_per_domain
        if self.ca.name == "local" or cap <= 0:
            return
        since = self.clock() - RATE_LIMIT_PERIOD
        count = await self._db(lambda s: store.issued_since(s, domain, self.ca.name, since))
        if count >= cap:
            raise Refusal(
                RefusalCode.CA_RATE_LIMITED,
                f"{count} certificates were issued for {domain} in the last 7 days, our cap is "
                f"{cap}. Retry in a day.",
            )

    async def revoke_domain(self, domain: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Revoke the valid certificates covering ``domain`` that our CA backend issued.

        Returns the serials revoked and, separately, (serial, CA) of those another backend
        issued, which this service cannot revoke.
        """
        certs = await self._db(lambda s: store.certificates_for_domain(s, domain))
        revoked: list[str] = []
        skipped: list[tuple[str, str]] = []
        for cert in certs:
            if cert.ca_name != self.ca.name:
                skipped.append((cert.serial_hex, cert.ca_name))
                continue
            await self.ca.revoke(cert.chain_pem)
            await self._db(
                functools.partial(store.mark_revoked, certificate_id=cert.id, now=self.clock())
            )
            log.info("revoked %s (%s)", cert.serial_hex, domain)
            revoked.append(cert.serial_hex)
        return revoked, skipped


def _paused(until: datetime) -> Refusal:
    return Refusal(
        RefusalCode.CA_RATE_LIMITED,
        "The certificate authority asked us to slow down. Retry after "
        f"{until.isoformat(timespec='seconds')}.",
    )
