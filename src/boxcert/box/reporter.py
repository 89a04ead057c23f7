"""Reports to the hub: the box tells its hub, as itself, what the hub shows of it.

A report (:class:`boxcert.wire.hub.BoxReport`) carries the identifier, the name, the LAN
address, the HTTPS URL, the certificate's end date, the status and the error code; it is sent
with the box secret from pairing. :class:`Reporter` runs in a thread of its own:

- at once after each change: a ``StatusChanged`` event of the agent's
  :class:`~boxcert.box.status.StatusHolder` or a change of ``config.json`` (a new name, a new
  pairing) wakes it; it sends when the report differs from the last one the hub accepted;
- at least every :data:`REPORT_EVERY` even without a change, so the hub sees the box alive;
- a report that fails (no answer, 5xx, another refusal) is tried again after a back-off
  (:func:`retry_delay`, with jitter), or at once on the next change;
- 401 means the hub forgot the box: the link is recorded as unpaired (``hub.json``) and no
  report is sent until the box is paired again (a new secret).

The listener only wakes the thread, so a slow or absent hub never blocks or delays the
certificate work. The clock, the wait and the jitter are injected.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from boxcert.box.config import BoxConfig, load_config
from boxcert.box.errors import BoxError
from boxcert.box.files import BoxPaths
from boxcert.box.hubclient import ReportOutcome, ReportResult, send_report
from boxcert.box.hublink import ReportLog, load_log, save_log, secret_id
from boxcert.box.identity import lan_address
from boxcert.box.status import BoxEvent, BoxStatus, StatusChanged, StatusHolder
from boxcert.box.wake import POLL_SECONDS, Alarm, WaitOnEvent, Wake, wait_on_event
from boxcert.clock import Clock, system_clock
from boxcert.wire import printable
from boxcert.wire.hub import BoxReport, BoxSecret, BoxState

log = logging.getLogger(__name__)

REPORT_EVERY = timedelta(hours=12)  # "at least daily", with room for a failed attempt
RETRY_DELAYS = (60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)  # seconds, then the last
Send = Callable[[str, BoxSecret, BoxReport, str], ReportResult]


def report_of(status: BoxStatus, config: BoxConfig, ip: str) -> BoxReport:
    """What the hub is told of the box in ``status`` (pure)."""
    cert = status.certificate
    return BoxReport(
        identifier=config.identifier,
        state=BoxState(status.state.value),
        name=config.name,
        ip=ip,
        url=status.url or "",
        certificate_end_date=cert.not_after if cert is not None else None,
        error_code=status.error_code,
        detail=printable(status.detail, 500),
    )


def report_due(
    report: BoxReport, accepted: BoxReport | None, accepted_at: datetime | None, now: datetime
) -> bool:
    """Send ``report``? When it differs from the last one accepted, or that one is old."""
    if report != accepted or accepted_at is None:
        return True
    return now - accepted_at >= REPORT_EVERY


def retry_delay(failures: int, jitter: float) -> float:
    """Seconds before the next try after ``failures`` failed ones in a row (jitter in [0, 1)
    adds up to a fifth, so boxes that failed together do not retry together)."""
    base = RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]
    return base * (1 + 0.2 * jitter)


def _send(server: str, secret: BoxSecret, report: BoxReport, ca_file: str) -> ReportResult:
    return send_report(server, secret, report, ca_file=ca_file)


class Reporter:
    def __init__(
        self,
        paths: BoxPaths,
        holder: StatusHolder,
        *,
        clock: Clock = system_clock,
        jitter: Callable[[], float] = random.random,
        wait: WaitOnEvent = wait_on_event,
        poll: float = POLL_SECONDS,
        send: Send = _send,
    ) -> None:
        self.paths = paths
        self.holder = holder
        self.clock = clock
        self.jitter = jitter
        self.send = send
        self._alarm = Alarm(paths.config, wait=wait, poll=poll)
        self._accepted: BoxReport | None = None  # the last report the hub accepted
        self._failures = 0
        self.attempts = 0

    def prepare(self, config: BoxConfig, status: BoxStatus) -> BoxReport | None:
        """The report for ``status``; None when the box is not paired or the hub forgot it."""
        if not config.hub_secret or not config.server:
            return None
        if load_log(self.paths).forgotten_secret_id == secret_id(config):
            return None
        return report_of(status, config, str(lan_address(config)))

    def attempt(self, config: BoxConfig, status: BoxStatus) -> ReportResult | None:
        """Send one report now, whatever was sent before (None: nothing to send, see
        :meth:`prepare`). Records the outcome in ``hub.json``."""
        report = self.prepare(config, status)
        return None if report is None else self._send_now(config, report)

    def _send_now(self, config: BoxConfig, report: BoxReport) -> ReportResult:
        self.attempts += 1
        result = self.send(config.server, BoxSecret.parse(config.hub_secret), report, config.hub_ca)
        previous, now = load_log(self.paths), self.clock()
        if result.outcome is ReportOutcome.ACCEPTED:
            self._accepted, self._failures = report, 0
            self._record(replace(previous, last_report_at=now, last_error=""))
            log.info("reported to the hub: %s", report.state.value)
        elif result.outcome is ReportOutcome.FORGOTTEN:
            forgotten = replace(
                previous, forgotten_secret_id=secret_id(config), last_error=result.detail
            )
            self._record(forgotten)
            log.warning(
                "the hub at %s no longer knows this box (%s); reports stop until it is "
                "paired again (boxcert box connect TOKEN)",
                config.server,
                result.detail,
            )
        else:
            self._failures += 1
            self._record(replace(previous, last_error=result.detail))
        return result

    def _record(self, report_log: ReportLog) -> None:
        try:
            save_log(self.paths, report_log)
        except BoxError as err:
            log.warning("cannot record the hub report: %s", err)

    # --- the thread ----------------------------------------------------------------------------

    def _on_event(self, event: BoxEvent) -> None:
        if isinstance(event, StatusChanged):
            self._alarm.request()

    def wake(self) -> None:
        """Cut the wait short (after setting ``stop``, or to report at once)."""
        self._alarm.request()

    def run(self, stop: threading.Event) -> None:
        """Report whenever due until ``stop`` is set."""
        unsubscribe = self.holder.subscribe(self._on_event)
        try:
            while not stop.is_set():
                self._alarm.take_request()
                self._alarm.note_config()
                seconds = self._step()
                if self._alarm.sleep(seconds, stop) is Wake.STOPPED:
                    return
        finally:
            unsubscribe()

    def _step(self) -> float:
        """One look: send when due; the seconds until the next look (a change wakes it
        earlier)."""
        idle = REPORT_EVERY.total_seconds()
        try:
            config = load_config(self.paths)
        except BoxError:
            return idle  # the agent shows what is wrong; a repaired file wakes us
        status = self.holder.current
        if status is None:
            return idle  # the agent's first check will tell
        try:
            report = self.prepare(config, status)
            if report is None:
                return idle  # not paired, or forgotten: a new pairing changes config.json
            if not report_due(report, self._accepted, self._accepted_at(), self.clock()):
                return self._until_daily()
            result = self._send_now(config, report)
        except Exception:
            # The thread must outlive any surprise: log it, and try again later.
            log.exception("reporting to the hub failed unexpectedly")
            self._failures += 1
            return retry_delay(self._failures, self.jitter())
        if result.outcome is ReportOutcome.FORGOTTEN:
            return idle
        if result.outcome is ReportOutcome.ACCEPTED:
            return self._until_daily()
        delay = retry_delay(self._failures, self.jitter())
        log.warning("a report to the hub failed (%s); trying again in %d s", result.detail, delay)
        return delay

    def _accepted_at(self) -> datetime | None:
        return load_log(self.paths).last_report_at if self._accepted is not None else None

    def _until_daily(self) -> float:
        at = self._accepted_at()
        if at is None:
            return REPORT_EVERY.total_seconds()
        return max((at + REPORT_EVERY - self.clock()).total_seconds(), 0.0)
