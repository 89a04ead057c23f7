"""The obtain flow: a holder's certificate from the cache, or from the CA exactly once.

After certmagic: take the holder's lock (in-process first, then the cluster-wide row in
``issuance_locks``), look in storage again and read the order limits (in the transaction
that takes the lock), order from the CA, store and release the lock (one transaction),
announce :class:`~boxcert.issuer.events.CertificateIssued`. So N concurrent requests for one
holder, on one issuer or several, lead to one CA order; the rest get its result.

A cached certificate is handed out while :func:`is_fresh` says so (pure): the issuer looks
ahead by a fifteenth of the lifetime, so a box asking at the start of its renewal window (or
with a clock running ahead) gets a new certificate, not the one it wants to replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert import pki, renewal
from boxcert.clock import Clock
from boxcert.issuer import registration
from boxcert.issuer.ca import CertificateAuthority, IssuedCertificate
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import CertificateAuthorityError, LockTimeout, RateLimited, Refusal
from boxcert.issuer.events import CertificateIssued, CertificateRevoked, EventBus
from boxcert.issuer.limits import OrderLimits
from boxcert.issuer.locks import HeldLock, SqlLocker
from boxcert.issuer.registration import Registrar
from boxcert.issuer.store import accounts, certificates
from boxcert.issuer.store.rows import NewCertificate, StoredCertificate
from boxcert.wire import RefusalCode

log = logging.getLogger(__name__)
LOCK_WAIT = 240.0  # longer than one ACME order with its DNS wait
LOOK_AHEAD = 15  # a fifteenth of the lifetime: 6 days of 90


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a certificate is for: a box (its key's label) or a database (no-CSR exchange)."""

    label: str
    db_uuid: str
    names: tuple[str, str]  # wildcard first
    for_box: bool

    @property
    def key(self) -> certificates.HolderKey:
        """How the store keys the holder's certificates."""
        return self.label, self.db_uuid, self.names


def is_fresh(cert: StoredCertificate | None, now: datetime) -> bool:
    """Whether a cached certificate may still be handed out at ``now``."""
    if cert is None:
        return False
    return fresh_between(cert.not_before, cert.not_after, cert.renew_after, now)


def fresh_between(
    not_before: datetime, not_after: datetime, renew_after: datetime | None, now: datetime
) -> bool:
    """:func:`is_fresh` on a certificate's dates alone (the hot cache keeps only those)."""
    window = None
    if renew_after is not None:
        window = renewal.RenewalWindow(renew_after, renew_after)
    lead = (not_after - not_before) / LOOK_AHEAD
    return not renewal.renewal_decision(not_before, not_after, now + lead, window).due


def subject_cn(chain_pem: str, fallback: str) -> str:
    """The leaf's CN, read once when a certificate is stored (requests never parse chains)."""
    try:
        return pki.common_name(pki.load_chain(chain_pem)[0].subject) or fallback
    except ValueError:
        return fallback


def request_of(
    holder: Holder, csr: x509.CertificateSigningRequest | None
) -> tuple[x509.CertificateSigningRequest, str | None]:
    """The CSR to order with, and the key made for it when the holder sent none (the
    compatible exchange: the issuer makes the database's key and hands it out)."""
    if csr is not None:
        return csr, None
    key = pki.make_ec_key()
    return pki.make_csr(key, holder.names), pki.private_key_pem(key).decode("ascii")


class Obtainer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        limits: OrderLimits,
        events: EventBus,
        clock: Clock,
        *,
        locker: SqlLocker | None = None,
        lock_wait: float = LOCK_WAIT,
        registrar: Registrar | None = None,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.limits = limits
        self.events = events
        self.clock = clock
        self.locker = locker or SqlLocker(sessions, clock=clock)
        self.lock_wait = lock_wait
        self.registrar = registrar  # registers a box again when its certificate is stored
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def cached_in(self, session: Session, holder: Holder) -> StoredCertificate | None:
        """The holder's newest certificate from our CA, fresh or not (in a caller's session)."""
        return certificates.latest_certificate(
            session, holder.label, holder.db_uuid, holder.names, self.ca.name
        )

    async def cached(self, holder: Holder) -> StoredCertificate | None:
        return await run_in_session(self.sessions, lambda s: self.cached_in(s, holder))

    async def obtain(
        self,
        holder: Holder,
        csr: x509.CertificateSigningRequest | None,
        cached: StoredCertificate | None,
        csr_sha256: str | None = None,
        identifier: str = "",
    ) -> tuple[StoredCertificate, bool]:
        """The certificate to hand out, and whether it came from the cache. ``csr_sha256``:
        the digest of the CSR's exact bytes, kept with a certificate ordered for it;
        ``identifier``: the box's name, should it have to be registered again."""
        if is_fresh(cached, self.clock()):
            assert cached is not None
            return cached, True
        domain = self.limits.settings.registered_domain(holder.label)

        def look_again(session: Session) -> tuple[StoredCertificate | None, Any]:
            # In the transaction that takes the lock: issued while we waited? may we order?
            current = self.cached_in(session, holder)
            return current, self.limits.read(session, domain, current is not None)

        async with self.holder_lock(holder.label):
            try:
                async with self.locker.hold(
                    f"issue:{holder.label}", timeout=self.lock_wait, read=look_again
                ) as held:
                    current, limits = held.found
                    if is_fresh(current, self.clock()):
                        assert current is not None
                        return current, True
                    self.limits.judge(limits, domain, renewal=current is not None)
                    issued = await self._issue(
                        holder, csr, current, domain, held, csr_sha256, identifier
                    )
                    return issued, False
            except LockTimeout as err:
                raise Refusal(RefusalCode.CA_FAILED, f"{err}; retry in a few minutes") from err

    @contextlib.asynccontextmanager
    async def holder_lock(self, label: str) -> AsyncIterator[None]:
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

    async def _issue(
        self,
        holder: Holder,
        csr: x509.CertificateSigningRequest | None,
        previous: StoredCertificate | None,
        domain: str,
        held: HeldLock,
        csr_sha256: str | None,
        identifier: str,
    ) -> StoredCertificate:
        csr, key_pem = request_of(holder, csr)
        try:
            issued = await self.ca.issue(
                csr, holder.names, replaces=previous.ari_id if previous is not None else None
            )
        except RateLimited as err:
            raise await self.limits.paused(domain, err) from err
        except CertificateAuthorityError as err:
            raise self.ca_failed(holder, err) from err
        new = self.new_certificate(holder, domain, issued, key_pem, previous, csr_sha256)
        stored = await self._store(holder, new, held, identifier)
        self.announce(holder, stored, renewal=previous is not None)
        return stored

    def ca_failed(self, holder: Holder, err: CertificateAuthorityError) -> Refusal:
        """The refusal for a CA's failure. The CA's own words name the vendor's internals
        (hosts, accounts): they go to our log under a reference; the box gets the reference
        and nothing else."""
        reference = secrets.token_hex(4)
        log.warning(
            "CA %s failed for %s (reference %s): %s", self.ca.name, holder.names[1], reference, err
        )
        return Refusal(
            RefusalCode.CA_FAILED,
            "The vendor's certificate authority could not issue the certificate just now "
            f"(reference {reference}); the box retries by itself.",
        )

    def announce(self, holder: Holder, stored: StoredCertificate, *, renewal: bool) -> None:
        """Log and announce a certificate just stored for ``holder``."""
        log.info("issued %s by %s until %s", holder.names[1], self.ca.name, stored.not_after.date())
        self.events.publish(
            CertificateIssued(
                at=stored.issued_at,
                db_uuid=holder.db_uuid,
                holder_label=holder.label,
                for_box=holder.for_box,
                names=holder.names,
                serial_hex=stored.serial_hex,
                ca_name=stored.ca_name,
                registered_domain=stored.registered_domain,
                not_after=stored.not_after,
                renewal=renewal,
            )
        )

    def new_certificate(
        self,
        holder: Holder,
        domain: str,
        issued: IssuedCertificate,
        key_pem: str | None,
        previous: StoredCertificate | None,
        csr_sha256: str | None,
    ) -> NewCertificate:
        """The row to store for what the CA issued."""
        return NewCertificate(
            holder_label=holder.label,
            db_uuid=holder.db_uuid,
            names=holder.names,
            subject_cn=issued.subject_cn or subject_cn(issued.chain_pem, holder.names[0]),
            chain_pem=issued.chain_pem,
            private_key_pem=key_pem,
            serial_hex=issued.serial_hex,
            ca_name=self.ca.name,
            registered_domain=domain,
            not_before=issued.not_before,
            not_after=issued.not_after,
            renew_after=issued.renew_after,
            ari_id=issued.ari_id,
            issued_at=self.clock(),
            replaces_id=previous.id if previous is not None else None,
            csr_sha256=csr_sha256,
        )

    async def _store(
        self, holder: Holder, new: NewCertificate, held: HeldLock, identifier: str
    ) -> StoredCertificate:
        def store(session: Session) -> StoredCertificate | Refusal:
            # Under the database's row lock, as a removal checks what is left under it: an
            # order takes seconds at a network CA, and its database may be removed, or its box
            # retired, meanwhile. A retired box that asks is a new box (if the cap allows), as
            # on the in-process path (.inline); a removed database stores nothing.
            locked = accounts.lock_database(session, holder.db_uuid)
            refused = None
            if locked is None:
                refused = registration.refusal(registration.Decision.NO_DATABASE, 0)
            elif holder.for_box and self.registrar is not None:
                decision, cap = self.registrar.register_locked(
                    session, locked, holder.label, holder.db_uuid, identifier, None
                )
                refused = registration.refusal(decision, cap)
            if refused is None:
                stored: StoredCertificate | Refusal = certificates.save_certificate(session, new)
            else:
                stored = refused
            held.release_in(session)  # one transaction: stored and released together
            return stored

        stored = await run_in_session(self.sessions, store)
        held.released_now()
        if isinstance(stored, Refusal):
            await self._revoke_unstored(holder, new)
            raise stored
        return stored

    async def _revoke_unstored(self, holder: Holder, new: NewCertificate) -> None:
        """Revoke a certificate nobody will be handed (its database or box went during the
        order): a public CA logs every certificate, so the box could still find it there."""
        reason = x509.ReasonFlags.cessation_of_operation
        try:
            await self.ca.revoke(new.chain_pem, reason)
        except Exception as err:  # the box's answer (a refusal) must not depend on it
            log.warning("could not revoke unstored certificate %s: %s", new.serial_hex, err)
            return
        log.info("certificate %s of %s revoked unstored", new.serial_hex, holder.names[1])
        self.events.publish(
            CertificateRevoked(
                at=self.clock(),
                db_uuid=holder.db_uuid,
                holder_label=holder.label,
                serial_hex=new.serial_hex,
                ca_name=self.ca.name,
                reason=reason.value,
                actor="issuer",
            )
        )
