"""The box's certificate status: one shape, one holder that changes it, and its events.

:class:`BoxStatus` is data (a state enum, the error code and its suffix apart, a known refusal
code, aware datetimes); display text is made at the edges (``to_json()``, the CLI, pages).
:class:`StatusHolder` is the one place the current status changes (after hass-nabucasa's
single setter): :meth:`StatusHolder.set` drops repeats, logs a change once, and tells the
subscribers; :meth:`StatusHolder.installed` announces a newly installed pair, so a front can
swap its certificate without a restart and a hub report can fire when the status changes.

Listeners are called in the thread that made the change (the agent's loop, or a caller of
``BoxAgent.status()``/``ensure()``), one event at a time and in order; they must be quick and
thread-safe, and an exception in one is logged and does not reach the others or the agent.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography import x509

from boxcert import pki
from boxcert.box.advice import Advice, explain
from boxcert.box.clockstate import ClockState
from boxcert.box.hook import HookRun
from boxcert.box.pair import CertPair
from boxcert.codes import ErrorCode
from boxcert.wire import REFUSALS, RefusalCode

log = logging.getLogger(__name__)


class CertState(enum.StrEnum):
    OK = "ok"
    NEED_REFRESH = "need_refresh"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the box shows of its leaf certificate."""

    subject_cn: str
    sans: tuple[str, ...]
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str

    @classmethod
    def of(cls, chain: Sequence[x509.Certificate]) -> CertificateInfo:
        """From a fully parsed chain (see :func:`boxcert.pki.ensure_parsed`), leaf first."""
        leaf = chain[0]
        return cls(
            subject_cn=pki.common_name(leaf.subject),
            sans=tuple(pki.dns_names(leaf)),
            issuer=pki.common_name(leaf.issuer) or leaf.issuer.rfc4514_string(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            fingerprint_sha256=pki.fingerprint_sha256(leaf),
        )


@dataclass(frozen=True, slots=True)
class BoxStatus:
    state: CertState
    error: ErrorCode | None
    detail: str
    certificate: CertificateInfo | None = None
    url: str | None = None  # https://<ip-label>.<label>.<zone>[:port], once the box has a key
    error_suffix: str = ""  # e.g. the HTTP status after ERR_IOT_HTTPS_LOAD_REQUEST_STATUS
    refusal: RefusalCode | None = None  # a known code the issuer refused with
    checked_at: datetime | None = None  # when the box last asked for or checked its pair
    renew_at: datetime | None = None  # when the certificate becomes due (valid or due only)
    advice: Advice | None = None  # the remedy that fits the cause (boxcert.box.advice)
    clock: ClockState | None = None  # the last judgement of the box's clock
    hook: HookRun | None = None  # the last run of the deploy hook

    @classmethod
    def problem(cls, detail: str) -> BoxStatus:
        """An error on the box's side with no code of the guide (damaged settings or files)."""
        return cls(CertState.ERROR, None, detail)

    @property
    def error_code(self) -> str | None:
        """The code as shown: ``ERR_…`` followed by its suffix, if any."""
        if self.error is None:
            return None
        return f"{self.error.code} {self.error_suffix}".strip()

    def same_as(self, other: BoxStatus | None) -> bool:
        """Equal but for ``checked_at`` and the clock's exact reading: a new check with the
        same outcome (the clock as right or as wrong as before) is no change."""
        if other is None:
            return False

        def clock_key(status: BoxStatus) -> object:
            c = status.clock
            return None if c is None else (c.check.verdict, c.check.source, c.check.summary)

        return replace(self, checked_at=None, clock=None) == replace(
            other, checked_at=None, clock=None
        ) and clock_key(self) == clock_key(other)

    def to_json(self) -> dict[str, Any]:
        """The ``status --json`` object. Holds no secret (no uuid, no contract code, no key)."""
        cert = self.certificate
        meaning = None if self.refusal is None else REFUSALS[self.refusal]
        words = explain(self)
        return {
            "status": self.state.value,
            "error_code": self.error_code,
            "detail": self.detail,
            "remedy": None if words is None else words.remedy,
            "advice": None if self.advice is None else self.advice.value,
            "refusal": None
            if meaning is None or self.refusal is None
            else {"code": self.refusal.value, "title": meaning.title, "remedy": meaning.remedy},
            "clock": None if self.clock is None else self.clock.to_json(),
            "deploy_hook": None if self.hook is None else self.hook.to_json(),
            "url": self.url,
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
            "certificate": None
            if cert is None
            else {
                "subject_cn": cert.subject_cn,
                "sans": list(cert.sans),
                "issuer": cert.issuer,
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
                "fingerprint_sha256": cert.fingerprint_sha256,
                "url": self.url or "",
                "renew_at": None if self.renew_at is None else self.renew_at.isoformat(),
            },
        }


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: BoxStatus
    previous: BoxStatus | None


@dataclass(frozen=True, slots=True)
class Installed:
    """A new pair is on disk (already in place when this is sent)."""

    pair: CertPair


BoxEvent = StatusChanged | Installed
Listener = Callable[[BoxEvent], None]


class StatusHolder:
    """The current status of one box, and who wants to hear when it changes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._current: BoxStatus | None = None
        self._listeners: list[Listener] = []

    @property
    def current(self) -> BoxStatus | None:
        with self._lock:
            return self._current

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every later event; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def set(self, status: BoxStatus) -> bool:
        """Make ``status`` current; log and notify unless it repeats the current one.

        Returns True when it was a change. A repeat still refreshes ``checked_at``.
        """
        with self._lock:
            previous = self._current
            self._current = status
            if status.same_as(previous):
                return False
            _log_change(status)
            self._notify(StatusChanged(status, previous))
            return True

    def installed(self, pair: CertPair) -> None:
        with self._lock:
            log.info(
                "installed certificate for %s until %s",
                ", ".join(pki.dns_names(pair.leaf)),
                pair.leaf.not_valid_after_utc.isoformat(),
            )
            self._notify(Installed(pair))

    def _notify(self, event: BoxEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a status listener failed on %s", type(event).__name__)


def _log_change(status: BoxStatus) -> None:
    shown = f"{status.error_code} " if status.error_code else ""
    log.info("certificate %s: %s%s", status.state, shown, status.detail)
