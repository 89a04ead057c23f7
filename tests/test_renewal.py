"""The renewal decision, against a table: no clock, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from boxcert.renewal import Reason, RenewalWindow, renewal_decision

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("lifetime_days", "age_days", "window", "due", "reason", "renew_day"),
    [
        (90, 0, None, False, Reason.VALID, 60),
        (90, 59.9, None, False, Reason.VALID, 60),
        (90, 60, None, True, Reason.LAST_THIRD, 60),
        (90, 81, None, True, Reason.EMERGENCY, None),
        (90, 90, None, True, Reason.EXPIRED, None),
        (90, 200, None, True, Reason.EXPIRED, None),
        # shorter lifetimes keep the same proportion (64 and 45 days, as CAs plan)
        (45, 29, None, False, Reason.VALID, 30),
        (45, 30, None, True, Reason.LAST_THIRD, 30),
        (64, 42, None, False, Reason.VALID, 64 * 2 / 3),
        # the CA's window (ARI) wins when it opens earlier
        (90, 40, (30, 35), True, Reason.RENEWAL_WINDOW, 30),
        (90, 20, (30, 35), False, Reason.VALID, 30),
        # ...but never later than the last third
        (90, 61, (70, 75), True, Reason.LAST_THIRD, 60),
        (90, -1, None, True, Reason.NOT_YET_VALID, None),
    ],
)
def test_decision_table(
    lifetime_days: float,
    age_days: float,
    window: tuple[int, int] | None,
    due: bool,
    reason: Reason,
    renew_day: float | None,
) -> None:
    not_after = T0 + lifetime_days * DAY
    ari = RenewalWindow(T0 + window[0] * DAY, T0 + window[1] * DAY) if window else None
    now = T0 + age_days * DAY
    decision = renewal_decision(T0, not_after, now, ari)
    assert (decision.due, decision.reason) == (due, reason)
    if renew_day is not None:
        assert abs((decision.renew_at - (T0 + renew_day * DAY)).total_seconds()) < 1


def test_jitter_spreads_inside_the_window() -> None:
    ari = RenewalWindow(T0 + 30 * DAY, T0 + 40 * DAY)
    early = renewal_decision(T0, T0 + 90 * DAY, T0, ari, jitter=0.0).renew_at
    late = renewal_decision(T0, T0 + 90 * DAY, T0, ari, jitter=0.9).renew_at
    assert early == T0 + 30 * DAY
    assert late == T0 + 39 * DAY
