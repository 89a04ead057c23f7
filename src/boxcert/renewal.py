"""When to renew: a pure function of (certificate validity, renewal info, clock reading).

Policy follows what ages well as CA lifetimes shrink (90 → 64 → 45 days): the CA's own renewal
window (ACME ARI, RFC 9773) when it gives one, else the start of the last third of the lifetime.
Nothing here reads the clock or sleeps; callers pass ``now``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Reason(enum.StrEnum):
    VALID = "valid"
    LAST_THIRD = "last_third"
    RENEWAL_WINDOW = "renewal_window"  # the CA's suggested window (ARI) has opened
    EMERGENCY = "emergency"  # under a tenth of the lifetime left: retry hard
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


@dataclass(frozen=True, slots=True)
class Decision:
    due: bool
    renew_at: datetime
    reason: Reason


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """A CA-suggested window (ARI ``suggestedWindow``)."""

    start: datetime
    end: datetime


def renewal_decision(
    not_before: datetime,
    not_after: datetime,
    now: datetime,
    window: RenewalWindow | None = None,
    jitter: float = 0.0,
) -> Decision:
    """Decide whether a certificate valid from ``not_before`` to ``not_after`` is due at ``now``.

    ``jitter`` in [0, 1) picks the point inside an ARI window (spreading a fleet's renewals);
    pass a random number in production and a fixed one in tests.
    """
    lifetime = not_after - not_before
    renew_at = not_before + lifetime * 2 / 3
    scheduled_reason = Reason.LAST_THIRD
    if window is not None and window.start <= window.end:
        suggested = window.start + (window.end - window.start) * min(max(jitter, 0.0), 0.999)
        # A window that opens later than our own rule does not delay us.
        if suggested <= renew_at:
            renew_at, scheduled_reason = suggested, Reason.RENEWAL_WINDOW
    if now >= not_after:
        return Decision(True, now, Reason.EXPIRED)
    if now < not_before - timedelta(minutes=5):
        # A certificate from the future means our clock or the CA's is wrong; get a fresh one
        # rather than serve one browsers reject.
        return Decision(True, now, Reason.NOT_YET_VALID)
    if now >= not_after - lifetime / 10:
        return Decision(True, now, Reason.EMERGENCY)
    if now >= renew_at:
        return Decision(True, renew_at, scheduled_reason)
    return Decision(False, renew_at, Reason.VALID)
