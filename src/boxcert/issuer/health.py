"""``GET /healthz``: is this issuer able to do its work — its database, and its CA.

- **database**: one ``SELECT 1`` through the issuer's own sessions, given
  :data:`DATABASE_WAIT` seconds (a PostgreSQL server that is gone must not hang the probe);
  checked on every call, since that is what a load balancer wants to know.
- **ca**: for the local CA, its files are still readable and its root and intermediate still
  valid; for an ACME CA, its directory answers with a directory. Kept for :data:`CA_KEEP_OK`
  seconds when it passed and :data:`CA_KEEP_FAILED` when it did not, so probes every second
  do not become requests to Let's Encrypt every second.

The answer is 200 ``{"status": "ok", "ca", "zone", "checks": {"database": "ok", "ca": "ok"}}``
or 503 with ``"status": "failing"``, ``"failing": [the parts]`` and a short reason per part
in ``checks``. Reasons say what failed, never where (no URL, path or address of the vendor's
internals: anyone can ask); the log has the details.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx
from cryptography import x509
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.ca.acme import AcmeCA
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.db import run_in_session

log = logging.getLogger(__name__)
DATABASE_WAIT = 3.0
CA_WAIT = 5.0
CA_KEEP_OK = 60.0
CA_KEEP_FAILED = 10.0
OK = "ok"


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, str]  # part → "ok" or a short reason

    @property
    def failing(self) -> list[str]:
        return [part for part, result in self.checks.items() if result != OK]


class HealthCheck:
    def __init__(
        self, sessions: sessionmaker[Session], ca: CertificateAuthority, clock: Clock
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.clock = clock
        self._ca_result: tuple[float, str] | None = None
        self._ca_lock = asyncio.Lock()

    async def report(self) -> HealthReport:
        database, ca = await asyncio.gather(self._database(), self._ca())
        return HealthReport({"database": database, "ca": ca})

    async def _database(self) -> str:
        def ping(session: Session) -> None:
            session.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(run_in_session(self.sessions, ping), DATABASE_WAIT)
        except TimeoutError:
            log.warning("health: the database did not answer within %.0f s", DATABASE_WAIT)
            return "the database does not answer"
        except Exception as err:
            log.warning("health: the database is unreachable: %s", err)
            return "the database is unreachable"
        return OK

    async def _ca(self) -> str:
        async with self._ca_lock:
            now = time.monotonic()
            if self._ca_result is not None:
                checked, result = self._ca_result
                keep = CA_KEEP_OK if result == OK else CA_KEEP_FAILED
                if now - checked < keep:
                    return result
            result = await self._check_ca()
            self._ca_result = (time.monotonic(), result)
            return result

    async def _check_ca(self) -> str:
        if isinstance(self.ca, LocalCA):
            return await asyncio.to_thread(self._check_local, self.ca)
        if isinstance(self.ca, AcmeCA):
            return await self._check_acme(self.ca)
        return OK  # a backend of a test's own: nothing we know how to look at

    def _check_local(self, ca: LocalCA) -> str:
        now = self.clock()
        try:
            for name in ("root.pem", "intermediate.pem", "intermediate.key"):
                (ca.directory / name).read_bytes()
            root = x509.load_pem_x509_certificate((ca.directory / "root.pem").read_bytes())
        except (OSError, ValueError) as err:
            log.warning("health: the local CA's files are unusable: %s", err)
            return "the local CA's files are unreadable"
        for cert in (root, ca.intermediate):
            if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
                return "the local CA's certificate is outside its validity"
        return OK

    async def _check_acme(self, ca: AcmeCA) -> str:
        verify: str | bool = ca.options.ca_bundle or True
        try:
            async with httpx.AsyncClient(verify=verify, timeout=CA_WAIT) as client:
                answer = await client.get(ca.options.directory_url)
            directory = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as err:
            log.warning("health: the ACME directory did not answer: %s", err)
            return "the ACME CA does not answer"
        if not isinstance(directory, dict) or "newOrder" not in directory:
            log.warning("health: the ACME directory answered HTTP %s", answer.status_code)
            return "the ACME CA's directory is not usable"
        return OK
