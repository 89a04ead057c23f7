"""When the agent tries next: pure functions of the last outcome and the clock.

After a failure the agent backs off along a table (as CertMagic does: 1, 2, 2, 5, 10 minutes …
up to 6 hours), so a fleet that lost its issuer does not storm it when it returns. While all is
well it wakes at the renewal time, and at least twice a day to notice damaged files.
"""

from __future__ import annotations

from datetime import datetime, timedelta

RETRY_MINUTES = (1, 2, 2, 5, 10, 10, 10, 20, 20, 30, 30, 30, 60, 60, 60, 120, 120, 180, 180, 360)
HEALTHY_RECHECK = timedelta(hours=12)


def retry_delay(failures: int, jitter: float = 0.0) -> timedelta:
    """Delay after the ``failures``-th failure in a row (1-based), spread by up to 10%."""
    index = min(max(failures, 1), len(RETRY_MINUTES)) - 1
    base = timedelta(minutes=RETRY_MINUTES[index])
    return base + base * 0.1 * min(max(jitter, 0.0), 1.0)


def next_attempt(
    now: datetime, *, ok: bool, failures: int, renew_at: datetime | None, jitter: float = 0.0
) -> datetime:
    if not ok:
        return now + retry_delay(failures, jitter)
    wake = now + HEALTHY_RECHECK
    if renew_at is not None and renew_at < wake:
        wake = max(renew_at, now)
    return wake
