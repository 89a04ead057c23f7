"""A request's way through the database, up to the order: steps 1 to 4 of :mod:`.service` on
what is stored, for every request handed over together (:class:`.batching.Batched`).

For each request, in the order of the contract: credentials and eligibility (the database's
facts, from the cache within its bound, else one statement), then the CSR (only once the
credentials check out), then the holder's box and newest certificate. Those last reads are
made once for the whole batch: a statement for one request, two for many (every box, every
holder's certificates), so that a storm of first requests costs PostgreSQL a round trip per
batch instead of one per request. Then, for a CA that signs in-process (:mod:`.inline`), the
certificate of a holder without a fresh one is signed in the same call.

The reads run without a transaction around them (:func:`.db.reading_sessions`): whatever must
hold together is judged again under the database's row lock when the order is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.clock import Clock
from boxcert.issuer import eligibility
from boxcert.issuer.batching import Batched
from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.csr import parse_csr, validate_box_csr
from boxcert.issuer.hotcache import HotCache, Missing
from boxcert.issuer.inline import InlineObtainer, SignedOrder
from boxcert.issuer.memory import csr_digest
from boxcert.issuer.obtain import Holder, is_fresh
from boxcert.issuer.store import accounts, boxes, certificates
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.wire import CertificateRequest, RefusalCode

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Found:
    """What the lookup found: who the certificate is for, and what is stored about them."""

    holder: Holder
    csr: x509.CertificateSigningRequest | None
    seen: BoxRow | None  # the box as read (None: unknown, or the holder is a database)
    cached: StoredCertificate | None  # the holder's newest certificate, fresh or not
    epoch: int  # the cache's epoch before the reads (see HotCache.epoch)
    csr_sha256: str | None  # the digest of the CSR's exact bytes (hex), kept with its order
    signed: SignedOrder | None  # signed right after the reads (a CA that signs in-process)


@dataclass(slots=True)
class Ask:
    """One request handed to the lookup; ``label`` is filled as soon as it is known (for the
    refusal's event, whatever step refuses)."""

    request: CertificateRequest
    label: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Who:
    """A request past its credentials and CSR: the holder, and the CSR if it was parsed."""

    holder: Holder
    csr: x509.CertificateSigningRequest | None
    csr_sha256: str | None  # hex


class Lookup:
    """``await lookup(ask)``: the request's :class:`Found`, or the eligibility verdict that
    refuses it; raises :class:`.errors.BadRequest` or :class:`.errors.Refusal`."""

    def __init__(
        self,
        reads: sessionmaker[Session],
        cache: HotCache,
        codes: ContractCodes,
        *,
        zone: str,
        ca_name: str,
        database_label: Callable[[str], str],
        inline: InlineObtainer | None,
        clock: Clock,
    ) -> None:
        self.reads = reads
        self.cache = cache
        self.codes = codes
        self.zone = zone
        self.ca_name = ca_name
        self.database_label = database_label
        self.inline = inline
        self.clock = clock
        self._together: Batched[Ask, Found | eligibility.Verdict] = Batched(self._run)

    async def __call__(self, ask: Ask) -> Found | eligibility.Verdict:
        return await self._together(ask)

    def _run(self, asks: Sequence[Ask]) -> list[Found | eligibility.Verdict | BaseException]:
        cache = self.cache
        with self.reads.begin() as session:
            if not cache.usable():
                cache.refresh(session)
            epoch = cache.epoch()
            whos = [self._each(self._who, session, ask, epoch) for ask in asks]
            holders = [who.holder for who in whos if isinstance(who, _Who)]
            found_boxes, latest = self._read(session, holders)
        outcomes: list[Found | eligibility.Verdict | BaseException] = []
        for ask, who in zip(asks, whos, strict=True):
            if not isinstance(who, _Who):
                outcomes.append(who)
                continue
            holder = who.holder
            seen = found_boxes.get(holder.label) if holder.for_box else None
            cached = latest.get(holder.key)
            outcomes.append(self._each(self._found, ask, who, seen, cached, epoch))
        return outcomes

    @staticmethod
    def _each(step: Callable[..., T], *args: object) -> T | BaseException:
        """One request's own step: what goes wrong there (a refusal, a bad CSR, a surprise)
        is that request's outcome, not its batch's. The batch's shared reads fail them all."""
        try:
            return step(*args)
        except Exception as err:
            return err

    def _who(self, session: Session, ask: Ask, epoch: int) -> _Who | eligibility.Verdict:
        """Steps 1 and 2, in their order: the CSR is only read once the credentials check
        out."""
        request, cache = ask.request, self.cache
        remembered = cache.facts(request.db_uuid)  # within the bound: as good as a read
        if isinstance(remembered, Missing):
            facts = accounts.database_facts(session, request.db_uuid)
        else:
            facts = remembered
        code_sent = bool(request.enterprise_code)
        verdict = eligibility.check(
            facts, self.codes.digest(request.enterprise_code), code_sent=code_sent
        )
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
            return verdict
        csr, csr_key = None, None
        if request.csr_pem is not None:
            csr_key = csr_digest(request.csr_pem)
            known = cache.csr_label(csr_key)
            if known is None:
                csr, label = validate_box_csr(request.csr_pem, self.zone)
                cache.put_csr_label(csr_key, label)
            else:
                label = known  # these exact bytes were verified before
        else:
            label = self.database_label(request.db_uuid)
        ask.label.append(label)
        names = naming.certificate_names(label, self.zone)
        holder = Holder(label, request.db_uuid, names, request.csr_pem is not None)
        return _Who(holder, csr, csr_key.hex() if csr_key is not None else None)

    def _read(
        self, session: Session, holders: list[Holder]
    ) -> tuple[dict[str, BoxRow], dict[certificates.HolderKey, StoredCertificate]]:
        """The holders' boxes and newest certificates: one statement for one holder, two for
        several."""
        if len(holders) == 1:
            (holder,) = holders
            box, cert = certificates.box_and_latest(
                session, holder.label, holder.db_uuid, holder.names, self.ca_name
            )
            found = {holder.label: box} if box is not None else {}
            return found, {holder.key: cert} if cert is not None else {}
        labels = {holder.label for holder in holders if holder.for_box}
        return (
            boxes.get_boxes(session, labels),
            certificates.latest_certificates(session, {h.key for h in holders}, self.ca_name),
        )

    def _found(
        self,
        ask: Ask,
        who: _Who,
        seen: BoxRow | None,
        cached: StoredCertificate | None,
        epoch: int,
    ) -> Found:
        holder, csr, request = who.holder, who.csr, ask.request
        fresh = is_fresh(cached, self.clock())
        if holder.for_box and csr is None and not fresh:
            assert request.csr_pem is not None
            csr = parse_csr(request.csr_pem)  # to order a certificate for its key
        csr_hex = who.csr_sha256
        signed = None
        if self.inline is not None and not fresh:
            # Signed in the same call, then registered and stored in one transaction (.inline).
            signed = self.inline.sign(holder, csr, cached, csr_hex, request.identifier, seen)
        return Found(holder, csr, seen, cached, epoch, csr_hex, signed)
