"""The box agent: its status, ``ensure`` (check, then obtain and install when needed), the loop.

One check looks at everything once: the settings, the pair (read together), the box's identity
(one route look-up) and the verdict of :func:`boxcert.box.verdict.inspect`. ``ensure`` runs one
check under the box's lock (taken with a timeout: a second caller gets BusyError), asks the
issuer when the verdict says so, installs the validated pair atomically, records the outcome in
``state.json`` and hands the new status to the :class:`StatusHolder`. ``run`` repeats that on
the schedule of :mod:`boxcert.box.schedule`, waiting on an :class:`Alarm` that ``request_check``
and a settings change cut short.

Every problem on the box's side (damaged settings or files) becomes a status with a clear
detail; only BusyError leaves ``ensure`` as an exception.

While its certificate is good, the agent asks the issuer at least every :data:`STANDING_EVERY`
whether it still stands (:mod:`boxcert.wire.standing`, one cheap request; the loop wakes at
least twice a day). When the issuer says it was revoked (the entitlement ended), the agent
removes it — it is never served again — and asks for a new one at once: the issuer's refusal
(``ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT`` with its reason) becomes the status, and the back-off
retries until the entitlement is back and a new certificate comes, with nobody touching the
box. A standing question that gets no answer changes nothing.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from boxcert import codes, pki
from boxcert.box import pair as pairs
from boxcert.box.client import (
    EXCHANGE_DEADLINE,
    IssuerEndpoint,
    ask_standing,
    request_certificate,
)
from boxcert.box.config import BoxConfig, load_config, update_config
from boxcert.box.errors import BoxError, BoxFileError, BusyError, ConfigError, LoadError
from boxcert.box.files import BoxPaths, check_home, clean_stale_temps
from boxcert.box.identity import BoxIdentity, identify
from boxcert.box.install import trust_roots, validate
from boxcert.box.lock import file_lock
from boxcert.box.schedule import next_attempt, retry_delay
from boxcert.box.state import LastAttempt, load_last, next_record, save_last
from boxcert.box.status import BoxStatus, CertificateInfo, CertState, StatusHolder
from boxcert.box.verdict import inspect
from boxcert.box.wake import POLL_SECONDS, Alarm, WaitOnEvent, Wake, wait_on_event
from boxcert.clock import Clock, system_clock
from boxcert.wire import CertificateRequest
from boxcert.wire.standing import Standing, StandingQuery, serial_hex

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 10.0  # seconds a caller waits for a running check before BusyError
REQUEST_SPACING = timedelta(seconds=10)  # at least this long between two checks on request
STANDING_EVERY = timedelta(hours=11)  # the loop wakes every 12 h: asked at each healthy wake


@dataclass(frozen=True, slots=True)
class _Check:
    """One look at the settings and the pair."""

    state: CertState
    error: codes.ErrorCode | None
    detail: str
    repairable: bool = False  # a new certificate fixes the error (a damaged cert.pem)
    key: pki.PrivateKey | None = None
    chain: list[x509.Certificate] | None = None
    identity: BoxIdentity | None = None
    renew_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: BoxStatus
    renew_at: datetime | None
    failures: int  # failures in a row, for the back-off


def _compose(check: _Check, attempt: LastAttempt | None, *, fresh: bool) -> BoxStatus:
    """The one place a BoxStatus is made from a check and the last attempt.

    ``fresh``: the attempt was made just now (``ensure``); its failure is the status as it is.
    Otherwise (``status``) a failed attempt explains a certificate that still needs a refresh.
    """
    state, error, detail = check.state, check.error, check.detail
    suffix, refusal = "", None
    if attempt is not None and not attempt.ok and (fresh or check.state is CertState.NEED_REFRESH):
        state, error, suffix, refusal = (
            CertState.ERROR,
            attempt.code,
            attempt.suffix,
            attempt.refusal,
        )
        detail = attempt.detail
        if not fresh:
            detail += f" (last attempt {attempt.at.isoformat()}; {check.detail.lower()})"
    return BoxStatus(
        state=state,
        error=error,
        detail=detail,
        certificate=CertificateInfo.of(check.chain) if check.chain else None,
        url=check.identity.url if check.identity else None,
        error_suffix=suffix,
        refusal=refusal,
        checked_at=attempt.at if attempt is not None else None,
        renew_at=check.renew_at,
    )


class BoxAgent:
    def __init__(
        self,
        paths: BoxPaths,
        *,
        clock: Clock = system_clock,
        jitter: Callable[[], float] = random.random,
        wait: WaitOnEvent = wait_on_event,
        poll: float = POLL_SECONDS,
        lock_timeout: float = LOCK_TIMEOUT,
        exchange_deadline: float = EXCHANGE_DEADLINE,
        holder: StatusHolder | None = None,
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.jitter = jitter
        self.lock_timeout = lock_timeout
        self.exchange_deadline = exchange_deadline
        self.holder = holder or StatusHolder()
        self._alarm = Alarm(paths.config, wait=wait, poll=poll)
        self._streak = 0  # failures in a row that state.json could not count
        self._last_check = clock()
        self._standing_at: datetime | None = None  # when the issuer last said "still good"
        self._running = 0  # checks running in this process (the loop's, a caller's)
        self._running_lock = threading.Lock()

    # --- what the front, the hub report and the CLI call -----------------------------------

    def config(self) -> BoxConfig:
        return load_config(self.paths)

    def configure(self, **changes: Any) -> BoxConfig:
        """Change settings (None leaves a field), save them, and check again at once."""
        config = update_config(self.paths, **changes)
        self._alarm.config_changed()
        return config

    def request_check(self, *, force: bool = False) -> None:
        """Ask the loop to check now ("renew now" with ``force``); requests are merged and
        spaced at least REQUEST_SPACING apart."""
        self._alarm.request(force=force)

    @property
    def checking(self) -> bool:
        """A check (``ensure``) is running in this process now."""
        with self._running_lock:
            return self._running > 0

    def wake(self) -> None:
        """Cut the loop's wait short, so that it sees its ``stop`` at once."""
        self._alarm.wake()

    def status(self) -> BoxStatus:
        """The pair's verdict, explained by the last attempt when it failed; contacts nothing."""
        try:
            check_home(self.paths)
            last = load_last(self.paths)
            check = self._check(load_config(self.paths), self.clock())
            status = _compose(check, last, fresh=False)
        except BoxError as err:
            status = BoxStatus.problem(str(err))
        self.holder.set(status)
        return status

    def ensure(self, force: bool = False) -> BoxStatus:
        """Check; obtain and install a new pair when needed (always, with ``force``).

        Raises BusyError when another check holds the lock for longer than ``lock_timeout``.
        """
        return self._ensure(force).status

    # --- one check ---------------------------------------------------------------------------

    def _ensure(self, force: bool) -> _Outcome:
        with self._running_lock:
            self._running += 1
        try:
            return self._ensure_counted(force)
        finally:
            with self._running_lock:
                self._running -= 1

    def _ensure_counted(self, force: bool) -> _Outcome:
        try:
            check_home(self.paths)
            with file_lock(self.paths.check_lock, self.lock_timeout):
                outcome = self._ensure_locked(force)
        except BusyError:
            raise
        except BoxError as err:  # state.json or the lock unusable: nothing can be recorded
            self._streak += 1
            outcome = _Outcome(BoxStatus.problem(str(err)), None, self._streak)
        else:
            self._streak = 0
        self.holder.set(outcome.status)
        return outcome

    def _ensure_locked(self, force: bool) -> _Outcome:
        clean_stale_temps(self.paths.home)
        last = load_last(self.paths)  # BoxFileError: recorded nowhere, see _ensure
        now = self.clock()
        try:
            config = load_config(self.paths)
        except (ConfigError, BoxFileError) as err:
            return self._record(_Check(CertState.ERROR, None, str(err)), last, now, err)
        check = self._check(config, now)
        if check.state is CertState.OK and not force:
            check = self._ask_standing(config, check, now)
        if check.state is CertState.OK and not force:
            return self._record(check, last, now, None)
        if check.state is CertState.ERROR and not check.repairable:
            code = check.error or codes.CHECK_CERT_READ_EXCEPTION
            return self._record(check, last, now, LoadError(code, check.detail))
        try:
            pair, identity = self._obtain(config, check)
            pairs.install_pair(self.paths, pair)
        except LoadError as err:
            if check.repairable:
                err.detail += f" (also: {check.detail})"
            return self._record(check, last, now, err)
        except ConfigError as err:
            return self._record(check, last, now, err)
        except BoxFileError as err:  # the key or the pair could not be written
            failure = LoadError(
                codes.CHECK_CERT_READ_EXCEPTION, f"could not write the box's files: {err}"
            )
            return self._record(check, last, now, failure)
        self.holder.installed(pair)
        now = self.clock()
        fresh = self._verdict(config, pair.key, list(pair.chain), identity, now)
        return self._record(fresh, last, now, None)

    def _record(
        self, check: _Check, last: LastAttempt | None, now: datetime, failure: BoxError | None
    ) -> _Outcome:
        if failure is None:
            attempt = next_record(last, now, ok=True, detail=check.detail)
        elif isinstance(failure, LoadError):
            attempt = next_record(
                last,
                now,
                ok=False,
                code=failure.code,
                suffix=failure.suffix,
                detail=failure.detail,
                refusal=failure.refusal,
            )
        else:
            attempt = next_record(last, now, ok=False, detail=str(failure))
        save_last(self.paths, attempt)
        status = _compose(check, attempt, fresh=True)
        return _Outcome(status, check.renew_at, attempt.failures)

    def _check(self, config: BoxConfig, now: datetime) -> _Check:
        if not config.server:
            return _Check(
                CertState.ERROR, codes.CHECK_NO_SERVER, "No server is configured on this box."
            )
        paths = self.paths
        read_error = codes.CHECK_CERT_READ_EXCEPTION
        try:
            files = pairs.read_pair(paths)
        except BoxFileError as err:
            if err.path == paths.key:
                return _Check(CertState.ERROR, read_error, f"key file {err}")
            if err.path == paths.cert:
                return _Check(CertState.ERROR, read_error, f"certificate file {err}", True)
            raise
        key = None
        if files.key_pem is not None:
            try:
                key = pairs.parse_key(files.key_pem)
            except pki.PemError as err:
                return _Check(CertState.ERROR, read_error, f"key file {paths.key}: {err}")
        chain = None
        if files.cert_pem is not None:
            try:
                chain = pairs.parse_chain(files.cert_pem)
            except pki.PemError as err:
                return _Check(
                    CertState.ERROR, read_error, f"certificate file {paths.cert}: {err}", True
                )
        identity = identify(key, config) if key is not None else None
        return self._verdict(config, key, chain, identity, now)

    @staticmethod
    def _verdict(
        config: BoxConfig,
        key: pki.PrivateKey | None,
        chain: list[x509.Certificate] | None,
        identity: BoxIdentity | None,
        now: datetime,
    ) -> _Check:
        verdict = inspect(chain, key, identity.names if identity else None, now)
        state = CertState.OK if verdict.ok else CertState.NEED_REFRESH
        return _Check(state, None, verdict.detail, False, key, chain, identity, verdict.renew_at)

    def _ask_standing(self, config: BoxConfig, check: _Check, now: datetime) -> _Check:
        """Ask the issuer (when due) whether the certificate still stands; a revoked one is
        removed and the check says a new one is needed."""
        due = self._standing_at is None or now - self._standing_at >= STANDING_EVERY
        if not due or not check.chain or not config.issuer:
            return check
        query = StandingQuery(
            config.db_uuid, config.enterprise_code, serial_hex(check.chain[0].serial_number)
        )
        try:
            answer = ask_standing(IssuerEndpoint(config.issuer, config.issuer_ca), query)
        except LoadError as err:
            log.info("could not ask whether the certificate still stands: %s", err.detail)
            return check
        self._standing_at = now
        if answer.standing is not Standing.REVOKED:
            return check
        log.warning("the issuer revoked this box's certificate: %s", answer.reason)
        pairs.drop_certificate(self.paths)
        self._standing_at = None
        return _Check(
            CertState.NEED_REFRESH,
            None,
            f"The certificate was revoked ({answer.reason_code}): {answer.reason}",
            key=check.key,
            identity=check.identity,
        )

    def _obtain(self, config: BoxConfig, check: _Check) -> tuple[pairs.CertPair, BoxIdentity]:
        """Ask the issuer for a certificate of the box's key and validate it; writes only a
        new key (before asking, so a retry keeps the box's identity)."""
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
        roots = trust_roots(config)  # ConfigError for an unreadable trust_ca
        if check.key is not None and check.identity is not None:
            key, identity = check.key, check.identity
        else:
            key = pki.make_ec_key()
            pairs.store_key(self.paths, key)  # a certificate of a previous key goes with it
            identity = identify(key, config)
            log.info("made the box key; the box's label is %s", identity.label)
        csr = pki.csr_pem(pki.make_csr(key, identity.names))
        request = CertificateRequest(
            config.db_uuid, config.enterprise_code, config.identifier, csr_pem=csr
        )
        grant = request_certificate(
            IssuerEndpoint(config.issuer, config.issuer_ca),
            request,
            deadline=self.exchange_deadline,
        )
        chain = validate(grant, key, identity.names, roots, self.clock())
        return pairs.CertPair(key, tuple(chain)), identity

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, iterations: int | None = None) -> None:
        """Ensure now, then whenever the schedule, a request or a settings change says; until
        ``stop`` is set (or after ``iterations`` checks)."""
        done = 0
        force = False
        while iterations is None or done < iterations:
            if stop is not None and stop.is_set():
                return
            done += 1
            seconds = self._iteration(force)
            if iterations is not None and done >= iterations:
                return
            wake = self._alarm.sleep(seconds, stop)
            force = False
            if wake is Wake.STOPPED:
                return
            if wake is Wake.TIMEOUT:
                continue
            log.info("checking early: %s", wake.value.replace("_", " "))
            spaced, force = self._space_out(stop)
            if not spaced:
                return

    def _iteration(self, force: bool) -> float:
        """One ensure; the seconds until the next."""
        self._last_check = self.clock()
        self._alarm.note_config()  # a change from now on wakes the next wait
        try:
            outcome = self._ensure(force)
        except BusyError:
            log.info("another check of this box is running; trying again shortly")
            return retry_delay(1, self.jitter()).total_seconds()
        except Exception:
            # The loop is the box's only renewal: it must outlive any surprise. Log it and try
            # again after a back-off.
            log.exception("certificate check failed unexpectedly")
            self._streak += 1
            ok, failures, renew_at = False, self._streak, None
        else:
            ok = outcome.status.state is CertState.OK
            failures, renew_at = outcome.failures, outcome.renew_at
        now = self.clock()
        wake = next_attempt(now, ok=ok, failures=failures, renew_at=renew_at, jitter=self.jitter())
        log.info("next check at %s", wake.isoformat(timespec="seconds"))
        return max((wake - now).total_seconds(), 0.0)

    def _space_out(self, stop: threading.Event | None) -> tuple[bool, bool]:
        """Wait until REQUEST_SPACING after the last check started, merging requests.

        Returns (go on, force)."""
        force = self._alarm.take_request()[1]
        while True:
            gap = (self._last_check + REQUEST_SPACING - self.clock()).total_seconds()
            if gap <= 0:
                return True, force
            wake = self._alarm.sleep(gap, stop)
            if wake is Wake.STOPPED:
                return False, force
            force = self._alarm.take_request()[1] or force
