"""The agent's two questions to the issuer: a certificate for the box's key
(:meth:`IssuerQuestions.obtain`), and whether the installed one still stands
(:meth:`IssuerQuestions.ask_standing`, when due: :data:`STANDING_EVERY`). Each exchange is
timed for the agent's observer (the box's metrics); what to do with the answers is the
agent's (:mod:`boxcert.box.agent`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509

from boxcert import codes, pki
from boxcert.box import pair as pairs
from boxcert.box.checkup import Check
from boxcert.box.client import IssuerEndpoint, ask_standing, request_certificate
from boxcert.box.config import BoxConfig
from boxcert.box.errors import LoadError
from boxcert.box.files import BoxPaths
from boxcert.box.identity import BoxIdentity, identify
from boxcert.box.install import trust_roots, validate
from boxcert.box.issuerinfo import IssuerFacts, zone_of
from boxcert.box.status import CertState
from boxcert.clock import Clock
from boxcert.wire import CertificateRequest
from boxcert.wire.standing import Standing, StandingQuery, serial_hex

log = logging.getLogger("boxcert.box.agent")  # the agent's log, where the box's owner looks
T = TypeVar("T")

STANDING_EVERY = timedelta(hours=11)  # the loop wakes every 12 h: asked at each healthy wake

# (endpoint, seconds, whether the issuer answered): told after every exchange.
Observe = Callable[[str, float, bool], None]


def prerequisites(config: BoxConfig) -> list[x509.Certificate]:
    """What the box needs before it may ask: credentials, an issuer URL, readable trust roots
    (returned). LoadError or ConfigError naming what is missing."""
    missing = [
        name
        for name, value in (
            ("database UUID", config.db_uuid),
            ("contract code", config.enterprise_code),
        )
        if not value
    ]
    if missing:
        raise LoadError(codes.LOAD_NO_CREDENTIAL, f"Missing on the box: {', '.join(missing)}.")
    if not config.issuer:
        raise LoadError(
            codes.LOAD_REQUEST_EXCEPTION,
            "no certificate service URL is configured (boxcert box configure --issuer URL)",
        )
    return trust_roots(config)  # ConfigError for an unreadable trust_ca


class IssuerQuestions:
    def __init__(
        self, paths: BoxPaths, clock: Clock, observe: Observe, exchange_deadline: float
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.observe = observe
        self.exchange_deadline = exchange_deadline
        self._standing_at: datetime | None = None  # when the issuer last said "still good"

    def standing_due(self, now: datetime) -> bool:
        return self._standing_at is None or now - self._standing_at >= STANDING_EVERY

    def ask_standing(self, config: BoxConfig, check: Check, now: datetime) -> Check:
        """Ask the issuer (when due) whether the certificate still stands; a revoked one is
        removed and the check says a new one is needed. No answer changes nothing."""
        if not self.standing_due(now) or not check.chain or not config.issuer:
            return check
        query = StandingQuery(
            config.db_uuid, config.enterprise_code, serial_hex(check.chain[0].serial_number)
        )
        endpoint = IssuerEndpoint(config.issuer, config.issuer_ca)
        try:
            answer = self._timed("standing", lambda: ask_standing(endpoint, query))
        except LoadError as err:
            log.info("could not ask whether the certificate still stands: %s", err.detail)
            return check
        self._standing_at = now
        if answer.standing is not Standing.REVOKED:
            return check
        log.warning("the issuer revoked this box's certificate: %s", answer.reason)
        pairs.drop_certificate(self.paths)
        self._standing_at = None
        return Check(
            CertState.NEED_REFRESH,
            None,
            f"The certificate was revoked ({answer.reason_code}): {answer.reason}",
            key=check.key,
            identity=check.identity,
        )

    def obtain(
        self,
        config: BoxConfig,
        check: Check,
        facts: IssuerFacts | None,
        roots: list[x509.Certificate],
        shift: timedelta,
    ) -> tuple[pairs.CertPair, BoxIdentity]:
        """Ask the issuer for a certificate of the box's key and validate it by the trusted
        time (the box's clock plus ``shift``); writes only a new key (before asking, so a
        retry keeps the box's identity)."""
        if check.key is not None and check.identity is not None:
            key, identity = check.key, check.identity
        else:
            key = pki.make_ec_key()
            pairs.store_key(self.paths, key)  # a certificate of a previous key goes with it
            identity = identify(key, config, zone_of(config, facts))
            log.info("made the box key; the box's label is %s", identity.label)
        csr = pki.csr_pem(pki.make_csr(key, identity.names))
        request = CertificateRequest(
            config.db_uuid, config.enterprise_code, config.identifier, csr_pem=csr
        )
        endpoint = IssuerEndpoint(config.issuer, config.issuer_ca)
        grant = self._timed(
            "x509",
            lambda: request_certificate(endpoint, request, deadline=self.exchange_deadline),
        )
        chain = validate(grant, key, identity.names, roots, self.clock() + shift)
        return pairs.CertPair(key, tuple(chain)), identity

    def _timed(self, endpoint: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            result = call()
        except LoadError as err:
            self.observe(endpoint, time.perf_counter() - started, err.failure is None)
            raise
        self.observe(endpoint, time.perf_counter() - started, True)
        return result
