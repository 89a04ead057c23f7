from __future__ import annotations

from datetime import UTC, datetime, timedelta

from boxcert.box.schedule import HEALTHY_RECHECK, next_attempt, retry_delay

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def test_backoff_table_grows_and_caps() -> None:
    minutes = [retry_delay(n).total_seconds() / 60 for n in range(1, 25)]
    assert minutes[:5] == [1, 2, 2, 5, 10]
    assert minutes == sorted(minutes)
    assert max(minutes) == 360
    assert retry_delay(0) == retry_delay(1)


def test_jitter_adds_at_most_ten_percent() -> None:
    assert retry_delay(4, jitter=1.0) == timedelta(minutes=5.5)


def test_next_attempt() -> None:
    assert next_attempt(NOW, ok=False, failures=1, renew_at=None) == NOW + timedelta(minutes=1)
    assert next_attempt(NOW, ok=True, failures=0, renew_at=None) == NOW + HEALTHY_RECHECK
    soon = NOW + timedelta(hours=2)
    assert next_attempt(NOW, ok=True, failures=0, renew_at=soon) == soon
    past = NOW - timedelta(days=1)
    assert next_attempt(NOW, ok=True, failures=0, renew_at=past) == NOW
