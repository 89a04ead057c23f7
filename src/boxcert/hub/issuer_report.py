"""The hub tells the issuer, at start and daily, which database it runs and which
installation it is (:mod:`boxcert.wire.hubreport`), so a copy of the database running
elsewhere is noticed (the issuer marks the database duplicate).

The installation's fingerprint is a random id made the first time it is needed and kept in
the data directory (``instance-fingerprint``): a database copied to another server, with a
data directory of its own, reports another fingerprint. The report is signed with a key
derived from the contract code; the code itself is never sent, nor logged.

:class:`IssuerReporter` runs beside the server: a report at once, then every
:data:`REPORT_EVERY`; after a failure it tries again after :data:`RETRY_AFTER`. TLS is always
verified (the system store, or ``--issuer-ca``); plain http only to this machine.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from boxcert import pki
from boxcert.clock import Clock, system_clock
from boxcert.hub.errors import HubError
from boxcert.hub.issuer_info import tls_context
from boxcert.hub.service import HubService
from boxcert.wire.errors import ErrorBody
from boxcert.wire.hub import check_transport
from boxcert.wire.hubreport import HUB_REPORT_PATH, HubReport, HubReportAnswer
from boxcert.wire.text import printable
from boxcert.wire.x509 import WireError

log = logging.getLogger(__name__)
FINGERPRINT_FILE = "instance-fingerprint"
REPORT_EVERY = 24 * 3600.0
RETRY_AFTER = 600.0
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")
Sleep = Callable[[float], Awaitable[None]]


def instance_fingerprint(data_dir: Path) -> str:
    """This installation's fingerprint, made once and kept in ``data_dir``."""
    path = data_dir / FINGERPRINT_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        if _FINGERPRINT.match(text):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    fingerprint = secrets.token_hex(16)
    try:
        pki.atomic_write(path, (fingerprint + "\n").encode(), 0o600)
    except OSError as err:
        raise HubError(f"cannot write {path}: {err.strerror or err}") from err
    return fingerprint


def send_report(
    service: HubService, fingerprint: str, context: ssl.SSLContext, clock: Clock = system_clock
) -> HubReportAnswer:
    """Send one report; HubError with one readable line when it is not accepted."""
    config = service.config()
    if config is None:
        raise HubError("the hub is not configured yet (boxcert hub configure)")
    try:
        check_transport(config.issuer_url, "the issuer URL")
    except WireError as err:
        raise HubError(str(err)) from err
    report = HubReport.signed(config.enterprise_code, config.db_uuid, fingerprint, clock())
    url = config.issuer_url.rstrip("/") + HUB_REPORT_PATH
    try:
        with httpx.Client(verify=context, timeout=TIMEOUT) as client:
            response = client.post(url, json=report.to_json(), follow_redirects=False)
    except httpx.HTTPError as err:
        raise HubError(f"cannot reach {url}: {printable(err) or type(err).__name__}") from err
    if response.status_code != 200:
        error = ErrorBody.parse(response.content)
        why = f": {error.message}" if error is not None and error.message else ""
        raise HubError(f"the issuer refused the report (HTTP {response.status_code}){why}")
    try:
        return HubReportAnswer.from_json(response.json())
    except (ValueError, WireError) as err:
        raise HubError(f"{url} gave an unreadable answer") from err


class IssuerReporter:
    def __init__(
        self,
        service: HubService,
        data_dir: Path,
        *,
        issuer_ca: Path | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        every: float = REPORT_EVERY,
        retry: float = RETRY_AFTER,
    ) -> None:
        self.service = service
        self.fingerprint = instance_fingerprint(data_dir)
        self.context = tls_context(issuer_ca)
        self.clock = clock
        self.sleep = sleep
        self.every = every
        self.retry = retry
        self.last: HubReportAnswer | None = None

    async def report_once(self) -> HubReportAnswer:
        answer = await asyncio.to_thread(
            send_report, self.service, self.fingerprint, self.context, self.clock
        )
        self.last = answer
        if answer.duplicate:
            log.warning(
                "the issuer marked this database duplicate: another installation reports it "
                "too; boxes get no certificate until the vendor keeps this one (%s)",
                self.fingerprint,
            )
        else:
            log.info("reported database to the issuer as installation %s", self.fingerprint)
        return answer

    async def run(self) -> None:
        """Report now and then daily, until cancelled."""
        while True:
            try:
                await self.report_once()
                wait = self.every
            except HubError as err:
                log.warning("could not report to the issuer: %s; trying again later", err)
                wait = self.retry
            await self.sleep(wait)
