"""The box agent: its status, ``ensure`` (check, then obtain and install when needed), the loop.

One check looks at everything once: the settings, the pair (read together), the box's identity
(one route look-up) and the verdict of :func:`boxcert.box.verdict.inspect`. ``ensure`` runs one
check under the box's lock (taken with a timeout: a second caller gets BusyError), in this
order:

1. read the settings, what the box knows of its issuer (its zone) and of its clock, and judge
   the pair by the time the box may decide by (:func:`boxcert.box.clockstate.decision_time`);
2. when it will talk to the issuer (a certificate is missing or due, ``force``, the standing
   question is due, the clock was wrong, or the issuer URL is new), read the issuer's facts
   and the time sources first (:func:`boxcert.box.contact.look`) and judge the pair again with
   the zone and the time they gave;
3. when only an unverified hint says the clock is wrong, stop there: nothing is renewed,
   discarded or installed; when the box's zone override disagrees with the issuer's, stop with
   ``ERR_IOT_HTTPS_LOAD_ZONE_MISMATCH`` instead of sending a CSR the issuer would refuse;
4. ask whether a good certificate still stands (see below), or ask the issuer for a new one,
   validate it by the trusted time and install it atomically; run the deploy hook
   (:mod:`boxcert.box.hook`) after an install;
5. record the outcome in ``state.json`` (a wrong clock is the outcome's code,
   ``ERR_IOT_HTTPS_CHECK_CLOCK_SKEW``) and hand the new status to the :class:`StatusHolder`.

``run`` repeats that on the schedule of :mod:`boxcert.box.schedule`, waiting on an
:class:`Alarm` that ``request_check`` and a settings change cut short.

Every problem on the box's side (damaged settings or files) becomes a status with a clear
detail; only BusyError leaves ``ensure`` as an exception.

While its certificate is good, the agent asks the issuer whether it still stands
(:mod:`boxcert.wire.standing`, one cheap request; the exchanges are in
:mod:`boxcert.box.questions`) at the first wake once ``STANDING_EVERY`` has passed since the
last answer; the loop wakes at least twice a day, so the gap is at most about half a day.
When the issuer says it was revoked (the entitlement ended), the agent removes it — it is
never served again — and asks for a new one at once: the issuer's refusal
(``ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT`` with its reason) becomes the status, and the
back-off retries until the entitlement is back and a new certificate comes, with nobody
touching the box.
A standing question that gets no answer changes nothing.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cryptography import x509

from boxcert import codes
from boxcert.box import pair as pairs
from boxcert.box.checkup import (
    Check,
    Known,
    also,
    check_pair,
    clock_detail,
    compose,
    verdict_of,
)
from boxcert.box.client import (
    EXCHANGE_DEADLINE,
)
from boxcert.box.clockstate import decision_time, load_clock
from boxcert.box.config import BoxConfig, load_config, update_config
from boxcert.box.contact import look
from boxcert.box.errors import BoxError, BoxFileError, BusyError, ConfigError, LoadError
from boxcert.box.files import BoxPaths, check_home, clean_stale_temps
from boxcert.box.hook import HookRun, hook_environment, load_hook, run_hook, save_hook
from boxcert.box.issuerinfo import (
    IssuerFacts,
    load_facts,
    save_facts,
    zone_mismatch,
)
from boxcert.box.lock import file_lock
from boxcert.box.observer import AgentObserver, NoObserver
from boxcert.box.questions import STANDING_EVERY, IssuerQuestions, prerequisites
from boxcert.box.schedule import next_attempt, retry_delay
from boxcert.box.state import LastAttempt, load_last, next_record, save_last
from boxcert.box.status import BoxStatus, CertState, StatusHolder
from boxcert.box.wake import POLL_SECONDS, Alarm, WaitOnEvent, Wake, wait_on_event
from boxcert.clock import Clock, system_clock

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_TIMEOUT = 10.0  # seconds a caller waits for a running check before BusyError
REQUEST_SPACING = timedelta(seconds=10)  # at least this long between two checks on request


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: BoxStatus
    renew_at: datetime | None
    failures: int  # failures in a row, for the back-off


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
        observer: AgentObserver | None = None,
    ) -> None:
        self.paths = paths
        self.clock = clock
        self.jitter = jitter
        self.lock_timeout = lock_timeout
        self.holder = holder or StatusHolder()
        self.observer: AgentObserver = observer or NoObserver()
        self._alarm = Alarm(paths.config, wait=wait, poll=poll)
        self._streak = 0  # failures in a row that state.json could not count
        self._last_check = clock()
        self.questions = IssuerQuestions(
            paths,
            clock,
            # The observer is looked up at each exchange: the front may replace it.
            lambda *told: self.observer.issuer_request(*told),
            exchange_deadline,
        )
        self._looked: tuple[str, datetime] | None = None  # issuer URL and when it was read
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

    def pair(self, token: str, *, name: str | None = None, hub_ca: str | None = None) -> BoxConfig:
        """Pair with the hub the token names and save what it gave in one step (PairingError
        with one line when it did not happen: nothing changes then)."""
        from boxcert.box.hublink import pair_with_hub

        pairing = pair_with_hub(self.config(), token, name=name, hub_ca=hub_ca)
        config = update_config(self.paths, **pairing.changes)
        facts = load_facts(self.paths)
        if pairing.zone and (facts is None or facts.issuer != config.issuer):
            # What the hub learnt of the issuer, until the issuer says it itself.
            try:
                seed = IssuerFacts(config.issuer, pairing.zone, None, self.clock(), "hub")
                save_facts(self.paths, seed)
            except BoxError as err:
                log.warning("%s", err)
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
            config = load_config(self.paths)
            known = self._known()
            now = self.clock()
            check = check_pair(
                self.paths, config, decision_time(now, known.clock) or now, known.facts
            )
            status = compose(check, last, fresh=False, known=known)
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
        self.observer.check_done(outcome.status)
        return outcome

    def _known(self) -> Known:
        return Known(load_facts(self.paths), load_clock(self.paths), load_hook(self.paths))

    def _ensure_locked(self, force: bool) -> _Outcome:
        clean_stale_temps(self.paths.home)
        last = load_last(self.paths)  # BoxFileError: recorded nowhere, see _ensure
        now = self.clock()
        known = self._known()
        try:
            config = load_config(self.paths)
        except (ConfigError, BoxFileError) as err:
            return self._record(Check(CertState.ERROR, None, str(err)), last, now, err, known)
        at = decision_time(now, known.clock)
        check = check_pair(self.paths, config, at or now, known.facts)
        if force or self._needs_issuer(check):
            try:  # what the box lacks itself is said before any request
                prerequisites(config)
            except (LoadError, ConfigError) as err:
                return self._record(check, last, now, also(err, check), known)
        issuer_down = False
        if self._must_contact(config, check, force, known):
            contact = look(self.paths, config, clock=self.clock, timed=self.observer.issuer_request)
            self._looked = (config.issuer, self.clock())
            known = replace(known, facts=contact.facts, clock=contact.clock)
            now = self.clock()
            at = decision_time(now, known.clock)
            check = check_pair(self.paths, config, at or now, known.facts)
            mismatch = zone_mismatch(config, known.facts)
            if mismatch is not None:
                return self._record(check, last, now, mismatch, known)
            issuer_down = contact.failure is not None
            wanted = force or self._needs_issuer(check) or at is None
            if contact.failure is not None and wanted:
                return self._record(check, last, now, also(contact.failure, check), known)
        if at is None:
            # Only an unverified hint says the clock is wrong: its time is not trusted, so
            # nothing is decided — no renewal, no discarding, no install.
            log.warning("the box's clock looks wrong; nothing is changed until it is right")
            return self._record(check, last, now, None, known)
        if check.state is CertState.OK and not force and not issuer_down:
            check = self.questions.ask_standing(config, check, now)  # revoked: a new one at once
        if check.state is CertState.OK and not force:
            return self._record(check, last, now, None, known)
        if check.state is CertState.ERROR and not check.repairable:
            code = check.error or codes.CHECK_CERT_READ_EXCEPTION
            return self._record(check, last, now, LoadError(code, check.detail), known)
        try:
            roots = prerequisites(config)
        except (LoadError, ConfigError) as err:
            return self._record(check, last, now, also(err, check), known)
        return self._renew(config, check, last, known, roots, at - now)

    def _renew(
        self,
        config: BoxConfig,
        check: Check,
        last: LastAttempt | None,
        known: Known,
        roots: list[x509.Certificate],
        shift: timedelta,
    ) -> _Outcome:
        """Obtain, validate and install a new pair; ``shift``: the trusted time is the box's
        clock plus this."""
        try:
            pair, identity = self.questions.obtain(config, check, known.facts, roots, shift)
            pairs.install_pair(self.paths, pair)
        except LoadError as err:
            return self._record(check, last, self.clock(), also(err, check), known)
        except BoxFileError as err:  # the key or the pair could not be written
            failure = LoadError(
                codes.CHECK_CERT_READ_EXCEPTION, f"could not write the box's files: {err}"
            )
            return self._record(check, last, self.clock(), failure, known)
        self.holder.installed(pair)
        if config.deploy_hook:
            known = replace(known, hook=self._run_hook(config.deploy_hook, pair))
        now = self.clock()
        fresh = verdict_of(pair.key, list(pair.chain), identity, now + shift)
        return self._record(fresh, last, now, None, known)

    @staticmethod
    def _needs_issuer(check: Check) -> bool:
        return check.state is CertState.NEED_REFRESH or check.repairable

    def _must_contact(self, config: BoxConfig, check: Check, force: bool, known: Known) -> bool:
        """Will this check talk to the issuer (so it reads the issuer's facts first)?"""
        if not config.issuer or not config.server:
            return False
        now = self.clock()
        facts = known.facts
        unknown = facts is None or facts.issuer != config.issuer or facts.source != "issuer"
        # An issuer that publishes no facts is not asked again at every check.
        recently = (
            self._looked is not None
            and self._looked[0] == config.issuer
            and now - self._looked[1] < STANDING_EVERY
        )
        return (
            force
            or self._needs_issuer(check)
            or (known.clock is not None and known.clock.wrong)
            or (unknown and not recently)
            or (check.state is CertState.OK and self.questions.standing_due(now))
        )

    def _run_hook(self, command: str, pair: pairs.CertPair) -> HookRun:
        run = run_hook(command, hook_environment(self.paths, pair), clock=self.clock)
        try:
            save_hook(self.paths, run)
        except BoxError as err:
            log.warning("%s", err)
        self.observer.hook_ran(run.ok)
        return run

    def _record(
        self,
        check: Check,
        last: LastAttempt | None,
        now: datetime,
        failure: BoxError | None,
        known: Known,
    ) -> _Outcome:
        clock = known.clock
        if clock is not None and clock.wrong:
            # A wrong clock is the outcome: it is retried on the failure back-off.
            also = "" if failure is None else getattr(failure, "detail", str(failure))
            failure = LoadError(codes.CHECK_CLOCK_SKEW, clock_detail(clock, also))
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
                advice=failure.advice,
            )
        else:
            attempt = next_record(last, now, ok=False, detail=str(failure))
        save_last(self.paths, attempt)
        status = compose(check, attempt, fresh=True, known=known)
        return _Outcome(status, check.renew_at, attempt.failures)

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
