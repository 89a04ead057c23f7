"""The box agent: status, ensure (check, then load when needed), and the renewal loop."""

from __future__ import annotations

import fcntl
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from boxcert import codes, naming, pki
from boxcert.box import install
from boxcert.box.check import CheckResult, box_names, check, read_key
from boxcert.box.client import IssuerEndpoint, LoadError, request_certificate
from boxcert.box.config import BoxConfig, BoxPaths, load_config
from boxcert.box.schedule import next_attempt
from boxcert.box.state import load_last, save_last
from boxcert.box.status import CertStatus, StatusReport
from boxcert.clock import Clock, system_clock
from boxcert.wire import CertificateRequest

log = logging.getLogger(__name__)


class BoxAgent:
    def __init__(
        self,
        paths: BoxPaths,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self._unexpected_failures = 0

    def config(self) -> BoxConfig:
        return load_config(self.paths)

    def status(self) -> StatusReport:
        """The check's verdict; when a refresh is due and the last try failed, that failure."""
        result = check(self.config(), self.paths, self.clock())
        report = result.report
        if report.status is CertStatus.OK:
            return report
        last = load_last(self.paths)
        if report.status is CertStatus.NEED_REFRESH and last is not None and not last.ok:
            shown = last.error_code or ""
            code = codes.lookup(shown)
            if code is not None:
                suffix = shown[len(code.code):].strip()
                detail = f"{last.detail} (last attempt {last.at}; {report.detail.lower()})"
                return StatusReport(CertStatus.ERROR, code, detail, report.certificate, suffix)
        return report

    def ensure(self) -> StatusReport:
        """Check; load and install a new certificate when the check says so."""
        with self._lock():
            config = self.config()
            result = check(config, self.paths, self.clock())
            report = result.report
            if report.status is CertStatus.OK:
                return report
            if report.status is CertStatus.ERROR and not result.repairable:
                self._record(report)
                return report
            try:
                self._load(config)
            except OSError as err:
                # The key or certificate could not be written (disk full, read-only).
                err_report = StatusReport(
                    CertStatus.ERROR, codes.CHECK_CERT_READ_EXCEPTION,
                    f"could not write the box's files in {self.paths.home}: {err}",
                    report.certificate,
                )
                self._record(err_report)
                return err_report
            except LoadError as err:
                detail = err.detail
                if result.repairable:
                    detail += f" (also: {report.detail})"
                failed = StatusReport(
                    CertStatus.ERROR, err.code, detail, report.certificate, err.suffix
                )
                self._record(failed)
                return failed
            fresh = check(config, self.paths, self.clock()).report
            self._record(fresh)
            return fresh

    def _record(self, report: StatusReport) -> None:
        ok = report.status is CertStatus.OK
        last = load_last(self.paths)
        if ok and last is not None and last.ok:
            return  # nothing new to remember
        save_last(self.paths, self.clock(), ok, report.error_code, report.detail)
        if ok:
            log.info("certificate ok: %s", report.detail)
        else:
            log.warning("certificate %s: %s %s", report.status, report.error_code, report.detail)

    def _load(self, config: BoxConfig) -> None:
        if not config.db_uuid or not config.enterprise_code:
            missing = [n for n, v in (("database UUID", config.db_uuid),
                                      ("contract code", config.enterprise_code)) if not v]
            raise LoadError(codes.LOAD_NO_CREDENTIAL, f"Missing on the box: {', '.join(missing)}.")
        if not config.issuer:
            raise LoadError(
                codes.LOAD_REQUEST_EXCEPTION,
                "no certificate service URL is configured (boxcert box configure --issuer URL)",
            )
        key = self._key()
        names = box_names(key, config.zone)
        csr = pki.csr_pem(pki.make_csr(key, names))
        request = CertificateRequest(
            config.db_uuid, config.enterprise_code, config.identifier, csr_pem=csr
        )
        grant = request_certificate(IssuerEndpoint(config.issuer, config.issuer_ca), request)
        chain = install.validate(grant, key, names, install.trust_roots(config), self.clock())
        install.install(self.paths, chain)
        log.info("installed certificate for %s until %s", names[1],
                 chain[0].not_valid_after_utc.isoformat())

    def _key(self) -> pki.PrivateKey:
        key = read_key(self.paths)
        if key is None:
            key = pki.make_ec_key()
            pki.atomic_write(self.paths.key, pki.private_key_pem(key), 0o600)
            label = naming.box_label(pki.spki_der(key.public_key()))
            log.info("made the box key; the box's label is %s", label)
        return key

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # The homepage and the loop may both ensure; one at a time per box.
        self.paths.home.mkdir(parents=True, exist_ok=True)
        with open(self.paths.home / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def run(self, *, iterations: int | None = None) -> None:
        """Ensure now, then whenever the schedule says; forever unless ``iterations``."""
        done = 0
        while iterations is None or done < iterations:
            done += 1
            try:
                wake, now = self._run_once()
            except Exception:
                # The loop is the box's only renewal: it must outlive any surprise (a damaged
                # config, a full disk). Log it and try again after a backoff.
                log.exception("certificate check failed unexpectedly")
                self._unexpected_failures += 1
                now = self.clock()
                wake = next_attempt(now, ok=False, failures=self._unexpected_failures,
                                    renew_at=None, jitter=self.jitter())
            else:
                self._unexpected_failures = 0
            log.info("next check at %s", wake.isoformat(timespec="seconds"))
            if iterations is None or done < iterations:
                self.sleep(max((wake - now).total_seconds(), 0.0))

    def _run_once(self) -> tuple[datetime, datetime]:
        """One ensure; returns when to wake next and the time it is now."""
        report = self.ensure()
        last = load_last(self.paths)
        failures = last.failures if last is not None and not last.ok else 0
        result: CheckResult = check(self.config(), self.paths, self.clock())
        now = self.clock()
        wake = next_attempt(
            now,
            ok=report.status is CertStatus.OK,
            failures=failures,
            renew_at=result.renew_at,
            jitter=self.jitter(),
        )
        return wake, now
