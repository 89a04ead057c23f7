"""What the box last learnt about its clock (``<home>/clock.json``), and what it may decide by.

The agent reads time sources when it talks to the issuer (the ``Date`` of ``GET /iot/info``,
the NTP server when one is set; see :mod:`boxcert.box.issuerinfo`) and keeps the judgement of
:func:`boxcert.box.diagnosis.clock.judge` here, so ``box status`` in another process, the
homepage and the hub report show the same clock error.

:func:`decision_time` is the rule the agent follows while its clock is known wrong:

- the clock is right, or nothing could check it: decide by the box's clock;
- a *trusted* source (the NTP server, or the issuer's ``Date`` over verified TLS) found it
  wrong: decide by that source's time (the box's clock plus the measured offset), so a box
  that booted two days in the past neither renews a certificate that only looks "not yet
  valid", nor installs one it would judge by the wrong date;
- only the *unverified* hint says it is wrong (verified TLS failed on certificate dates): its
  time is not trusted, so nothing is decided at all — no renewal, no discarding, no install;
  the pair in place keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boxcert.box.diagnosis.clock import ClockCheck, ClockVerdict, Source
from boxcert.box.files import BoxPaths, load_memory, save_memory
from boxcert.wire import parse_timestamp, printable

MAX_OFFSET = timedelta(days=36500)  # a stored offset beyond a century is damage, not a clock


@dataclass(frozen=True, slots=True)
class ClockState:
    """A clock judgement and when (by the box's clock) it was made."""

    check: ClockCheck
    at: datetime

    @property
    def wrong(self) -> bool:
        return self.check.wrong

    @property
    def trusted(self) -> bool:
        """The judgement comes from a source whose time the box may decide by."""
        return self.check.source in (Source.NTP, Source.ISSUER)

    def to_json(self) -> dict[str, Any]:
        """The ``clock`` object of ``status --json``."""
        check = self.check
        return {
            "verdict": check.verdict.value,
            "offset_seconds": round(check.offset.total_seconds(), 3),
            "source": None if check.source is None else check.source.value,
            "detail": check.detail,
            "checked_at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: object) -> ClockState | None:
        if not isinstance(raw, dict):
            return None
        at = parse_timestamp(raw.get("checked_at"))
        offset = raw.get("offset_seconds")
        try:
            verdict = ClockVerdict(str(raw.get("verdict")))
            source = None if raw.get("source") is None else Source(str(raw.get("source")))
        except ValueError:
            return None
        if at is None or isinstance(offset, bool) or not isinstance(offset, int | float):
            return None
        delta = timedelta(seconds=offset)
        if abs(delta) > MAX_OFFSET:
            return None
        detail = raw.get("detail")
        detail = printable(detail, 500) if isinstance(detail, str) else ""
        return cls(ClockCheck(verdict, delta, source, detail), at)


def decision_time(now: datetime, state: ClockState | None) -> datetime | None:
    """The time the agent decides by (see the module docstring); None: decide nothing."""
    if state is None or not state.wrong:
        return now
    if state.trusted:
        return now + state.check.offset
    return None


def load_clock(paths: BoxPaths) -> ClockState | None:
    """The last judgement; None when there is none or the record is damaged (it is only a
    memory: the next reading replaces it)."""
    return load_memory(paths.clock_state, ClockState.from_json)


def save_clock(paths: BoxPaths, state: ClockState) -> None:
    """Raises BoxFileError when it cannot be written."""
    save_memory(paths.clock_state, state.to_json())
