"""The event bus: typed subscriptions, order, unsubscribing, and failing listeners."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from boxcert.issuer.events import (
    CaPaused,
    CertificateRevoked,
    Event,
    EventBus,
    RequestRefused,
)
from boxcert.wire import RefusalCode

AT = datetime(2026, 1, 1, tzinfo=UTC)
REFUSED = RequestRefused(AT, "db-1", None, RefusalCode.CA_FAILED, "down")
PAUSED = CaPaused(AT, "acme-x", "iot.example", AT, "slow down")
REVOKED = CertificateRevoked(AT, "db-1", "label", "0a", "local")


def test_typed_and_catch_all_listeners() -> None:
    bus = EventBus()
    refusals: list[RequestRefused] = []
    everything: list[Event] = []
    bus.subscribe(RequestRefused, refusals.append)
    bus.subscribe_all(everything.append)
    for event in (REFUSED, PAUSED, REVOKED):
        bus.publish(event)
    assert refusals == [REFUSED]
    assert everything == [REFUSED, PAUSED, REVOKED]


def test_listeners_run_in_subscription_order_and_can_leave() -> None:
    bus = EventBus()
    calls: list[str] = []
    bus.subscribe_all(lambda _: calls.append("first"))
    leave = bus.subscribe_all(lambda _: calls.append("second"))
    bus.subscribe(CaPaused, lambda _: calls.append("third"))
    bus.publish(PAUSED)
    leave()
    leave()  # twice is harmless
    bus.publish(PAUSED)
    assert calls == ["first", "second", "third", "first", "third"]


def test_a_listener_may_unsubscribe_while_being_called() -> None:
    bus = EventBus()
    calls: list[str] = []

    def once(_: Event) -> None:
        calls.append("once")
        stop()

    stop = bus.subscribe_all(once)
    bus.subscribe_all(lambda _: calls.append("always"))
    bus.publish(REVOKED)
    bus.publish(REVOKED)
    assert calls == ["once", "always", "always"]


def test_a_failing_listener_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    after: list[Event] = []

    def broken(_: Event) -> None:
        raise ValueError("listener bug")

    bus.subscribe_all(broken)
    bus.subscribe_all(after.append)
    with caplog.at_level(logging.ERROR):
        bus.publish(REFUSED)
    assert after == [REFUSED]
    assert "an event listener failed on RequestRefused" in caplog.text
    assert "listener bug" in caplog.text  # the traceback names the bug


def test_events_are_immutable() -> None:
    with pytest.raises(AttributeError):
        REFUSED.code = RefusalCode.CA_RATE_LIMITED  # type: ignore[misc]
