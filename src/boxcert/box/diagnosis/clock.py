"""Is the box's clock right? A pure judgement of readings from sources we trust more.

A box without a real-time clock can boot days in the past; then TLS to the issuer fails on
certificate dates, and every renewal decision is wrong. Sources, most trusted first:

1. an NTP server the box is told to use (``--ntp-server``), read by SNTP;
2. the issuer's HTTP ``Date`` header, over verified TLS (1 s resolution);
3. the same header over TLS *without* verification — only when verified TLS failed on dates,
   and only as a hint for the diagnosis: nothing secret is sent on that request and nothing
   is decided from it except "the clock looks wrong".

A difference above :data:`TOLERANCE` is a clock error (``ERR_IOT_HTTPS_CHECK_CLOCK_SKEW``).
The agent never switches verification off, and while its clock is known wrong it does not
renew, discard or install a certificate because of what that clock says.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

TOLERANCE = timedelta(minutes=5)


class Source(enum.StrEnum):
    NTP = "ntp"
    ISSUER = "issuer"
    ISSUER_HINT = "issuer_unverified"  # TLS not verified: a hint only


_RANK = {Source.NTP: 0, Source.ISSUER: 1, Source.ISSUER_HINT: 2}


@dataclass(frozen=True, slots=True)
class Reading:
    """``reference`` was the time by ``source`` when the box's clock said ``local``."""

    source: Source
    reference: datetime
    local: datetime
    where: str = ""  # the server, for the detail

    @property
    def offset(self) -> timedelta:
        """How far the box's clock is behind the reference (negative: ahead)."""
        return self.reference - self.local


class ClockVerdict(enum.StrEnum):
    OK = "ok"
    BEHIND = "behind"
    AHEAD = "ahead"
    UNKNOWN = "unknown"  # no source answered


@dataclass(frozen=True, slots=True)
class ClockCheck:
    verdict: ClockVerdict
    offset: timedelta  # add to the box's clock to get the reference time
    source: Source | None
    detail: str

    @property
    def wrong(self) -> bool:
        return self.verdict in (ClockVerdict.BEHIND, ClockVerdict.AHEAD)

    @property
    def summary(self) -> str:
        """The detail's first sentence, without the readings: stable from one check to the
        next while the clock stays as right or as wrong (the status shows it; repeats are no
        change, and a right clock read 0 s off one time and 1 s the next is no change)."""
        head = self.detail
        for readings in (": it reads ", ": the two differ by "):
            head = head.split(readings, 1)[0]
        return head.rstrip(".") + "."


_DIRECTION = {ClockVerdict.BEHIND: "behind", ClockVerdict.AHEAD: "ahead of"}


def _span(delta: timedelta) -> str:
    """The size of ``delta`` in the largest unit that counts at least 2 of it, rounded (a
    reading made a moment after "2 days" is still 2 days, not 48 hours)."""
    seconds = abs(delta.total_seconds())
    for unit, name in ((86400, "days"), (3600, "hours"), (60, "minutes")):
        if round(seconds / unit) >= 2:
            return f"{round(seconds / unit)} {name}"
    whole = round(seconds)
    return "1 second" if whole == 1 else f"{whole} seconds"


def judge(readings: list[Reading], tolerance: timedelta = TOLERANCE) -> ClockCheck:
    """The verdict from the most trusted reading; UNKNOWN when there is none."""
    if not readings:
        return ClockCheck(
            ClockVerdict.UNKNOWN,
            timedelta(0),
            None,
            "No time source answered; the box's clock could not be checked.",
        )
    best = min(readings, key=lambda r: _RANK[r.source])
    offset = best.offset
    where = f" ({best.where})" if best.where else ""
    label = {
        Source.NTP: "the NTP server",
        Source.ISSUER: "the certificate service",
        Source.ISSUER_HINT: "the certificate service (unverified)",
    }[best.source]
    if abs(offset) <= tolerance:
        return ClockCheck(
            ClockVerdict.OK,
            offset,
            best.source,
            f"The box's clock agrees with {label}{where}: the two differ by {_span(offset)}.",
        )
    verdict = ClockVerdict.BEHIND if offset > timedelta(0) else ClockVerdict.AHEAD
    return ClockCheck(
        verdict,
        offset,
        best.source,
        f"The box's clock is {_span(offset)} {_DIRECTION[verdict]} {label}{where}: it reads "
        f"{best.local:%Y-%m-%d %H:%M} UTC where it is {best.reference:%Y-%m-%d %H:%M} UTC.",
    )
