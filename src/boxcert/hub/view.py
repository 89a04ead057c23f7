"""What the hub shows about a box, as a pure function of the stored row and the clock.

One shape serves the IoT page, the page per box, the JSON API and ``boxcert hub boxes``:

- ``days_left``: whole days until the certificate ends (negative once it has ended);
  ``expiring_soon`` under :data:`EXPIRY_WARNING` (14 days) — the page highlights those rows;
- ``silent``: nothing heard from the box for :data:`SILENCE` (2 days) — a box reports at
  least daily, so two missed reports mean it is off, unplugged or cut off from the hub;
- the status, with the error code's title and remedy from :mod:`boxcert.codes`, and the
  issuer's refusal (:mod:`boxcert.wire.refusals`) when the box's detail names one;
- a ``tone`` (ok, warn, bad, none) for the page's colours, decided here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from boxcert import codes
from boxcert.hub.models import BoxKind
from boxcert.wire.hub import BoxState
from boxcert.wire.refusals import RefusalMeaning, meaning_of

EXPIRY_WARNING = timedelta(days=14)
SILENCE = timedelta(days=2)

_STATUS_LABELS = {
    BoxState.OK.value: "OK",
    BoxState.NEED_REFRESH.value: "Getting a new certificate",
    BoxState.ERROR.value: "Error",
}


class BoxRow(Protocol):
    identifier: str
    kind: str
    name: str
    ip: str
    url: str
    certificate_end_date: datetime | None
    state: str | None
    error_code: str | None
    detail: str
    added_at: datetime
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class BoxView:
    identifier: str
    kind: str
    name: str
    ip: str
    url: str
    certificate_end_date: datetime | None
    days_left: int | None
    expiring_soon: bool
    status: str | None
    status_label: str
    error_code: str | None
    error: codes.ErrorCode | None
    refusal: RefusalMeaning | None  # the issuer's stated reason, when the detail names one
    detail: str
    last_seen: datetime | None
    silent: bool
    tone: str

    @property
    def attention(self) -> bool:
        """The row deserves a look: certificate ending soon, an error, or a silent box."""
        return self.expiring_soon or self.silent or self.tone == "bad"

    def to_json(self) -> dict[str, Any]:
        end, seen = self.certificate_end_date, self.last_seen
        return {
            "identifier": self.identifier,
            "name": self.name,
            "ip": self.ip,
            "url": self.url,
            "certificate_end_date": end.isoformat() if end else None,
            "days_left": self.days_left,
            "status": self.status,
            "error_code": self.error_code,
            "last_seen": seen.isoformat() if seen else None,
            "kind": self.kind,
            "expiring_soon": self.expiring_soon,
            "silent": self.silent,
            "error_title": self.error.title if self.error else None,
            "remedy": self.error.remedy if self.error else None,
            "refusal": self.refusal.title if self.refusal else None,
            "detail": self.detail,
        }


def days_left(end: datetime, now: datetime) -> int:
    return math.floor((end - now) / timedelta(days=1))


def box_view(row: BoxRow, now: datetime) -> BoxView:
    end = row.certificate_end_date
    left = days_left(end, now) if end is not None else None
    soon = left is not None and end is not None and end - now < EXPIRY_WARNING
    silent = now - (row.last_seen or row.added_at) >= SILENCE
    error = codes.lookup(row.error_code) if row.error_code else None
    # A refused box reports the issuer's refusal as "<code>: <message>" in its detail.
    refusal = meaning_of(row.detail.split(":", 1)[0].strip()) if row.detail else None
    if row.state is not None:
        label = _STATUS_LABELS.get(row.state, row.state)
    elif row.kind == BoxKind.LEGACY.value:
        label = "End date only (older box)"
    else:
        label = "Paired, no report yet"
    tone = _tone(row.state, left)
    return BoxView(
        identifier=row.identifier,
        kind=row.kind,
        name=row.name,
        ip=row.ip,
        url=row.url,
        certificate_end_date=end,
        days_left=left,
        expiring_soon=soon,
        status=row.state,
        status_label=label,
        error_code=row.error_code,
        error=error,
        refusal=refusal,
        detail=row.detail,
        last_seen=row.last_seen,
        silent=silent,
        tone=tone,
    )


def _tone(state: str | None, left: int | None) -> str:
    if state == BoxState.ERROR.value or (left is not None and left < 0):
        return "bad"
    if state == BoxState.NEED_REFRESH.value:
        return "warn"
    if state == BoxState.OK.value:
        return "ok"
    return "none"


def format_when(moment: datetime | None) -> str:
    """A date and time for a page, in UTC: ``2025-03-01 14:05 UTC``; a dash for none."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_ago(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the largest whole unit: ``just now``, ``5 minutes ago``, ``3 days ago``."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    unit, size = next(
        u for u in (("day", 86400), ("hour", 3600), ("minute", 60)) if seconds >= u[1]
    )
    count = int(seconds // size)
    return f"{count} {unit}{'s' if count != 1 else ''} ago"
