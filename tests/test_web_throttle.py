"""The failed-login throttle, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

from boxcert.web import LoginThrottle, Window
from tests.web_site import FakeClock


def throttle(clock: FakeClock, **kw: object) -> LoginThrottle:
    return LoginThrottle(
        clock=clock,
        per_client=Window(3, timedelta(minutes=10)),
        overall=Window(5, timedelta(minutes=10)),
        **kw,  # type: ignore[arg-type]
    )


def test_an_address_is_locked_after_its_limit_until_the_oldest_failure_ages_out() -> None:
    clock = FakeClock()
    t = throttle(clock)
    t.failed("a")
    clock.advance(minutes=2)
    t.failed("a")
    assert t.retry_after("a") is None
    t.failed("a")
    assert t.retry_after("a") == timedelta(minutes=8)  # the first failure was 2 minutes ago
    assert t.retry_after("b") is None  # another address is not affected
    clock.advance(minutes=7, seconds=59)
    assert t.retry_after("a") == timedelta(seconds=1)
    clock.advance(seconds=1)
    assert t.retry_after("a") is None  # only two failures left in the window


def test_failures_from_many_addresses_lock_everyone() -> None:
    clock = FakeClock()
    t = throttle(clock)
    for i in range(5):
        t.failed(f"10.0.0.{i}")
    assert t.retry_after("10.0.0.99") == timedelta(minutes=10)
    clock.advance(minutes=10)
    assert t.retry_after("10.0.0.99") is None


def test_a_success_clears_its_address() -> None:
    clock = FakeClock()
    t = throttle(clock)
    t.failed("a")
    t.failed("a")
    t.succeeded("a")
    t.failed("a")
    t.failed("a")
    assert t.retry_after("a") is None


def test_memory_stays_bounded() -> None:
    clock = FakeClock()
    t = LoginThrottle(
        clock=clock,
        per_client=Window(1, timedelta(hours=1)),
        overall=Window(10**6, timedelta(hours=1)),
        max_clients=100,
    )
    for i in range(1000):
        t.failed(f"client-{i}")
    assert len(t._clients) == 100
    assert t.retry_after("client-999") is not None  # the most recent are kept
    assert t.retry_after("client-0") is None
