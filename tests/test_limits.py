"""Order limits: the policy as tables, and the CA pause as a row every issuer honours (two
issuers on one PostgreSQL database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.errors import RateLimited, Refusal
from boxcert.issuer.events import CaPaused, EventBus
from boxcert.issuer.limits import (
    DEFAULT_PAUSE,
    MIN_PAUSE,
    OrderLimits,
    cap_refusal,
    pause_end,
    paused_refusal,
)
from boxcert.issuer.store import pauses
from boxcert.wire import RefusalCode
from tests.issuer_support import (
    Clock,
    LimitedCA,
    box_request,
    make_issuer,
    sessions_for,
    sqlite_url,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, NOW + DEFAULT_PAUSE),
        (NOW + timedelta(minutes=30), NOW + timedelta(minutes=30)),
        (NOW + timedelta(days=3), NOW + timedelta(days=3)),
        (NOW, NOW + MIN_PAUSE),
        (NOW - timedelta(hours=5), NOW + MIN_PAUSE),
        (NOW + timedelta(seconds=10), NOW + MIN_PAUSE),
    ],
)
def test_pause_end(retry_after: datetime | None, expected: datetime) -> None:
    assert pause_end(retry_after, NOW) == expected


@pytest.mark.parametrize(
    ("issued", "cap", "refused"),
    [
        (0, 45, False),
        (44, 45, False),
        (45, 45, True),
        (99, 45, True),
        (99, 0, False),
        (0, 1, False),
        (1, 1, True),
    ],
)
def test_cap_refusal(issued: int, cap: int, refused: bool) -> None:
    result = cap_refusal(issued, cap, "iot.example")
    assert (result is not None) is refused
    if result is not None:
        assert result.code == RefusalCode.CA_RATE_LIMITED
        assert f"{issued} certificates were issued for iot.example" in result.message


def test_paused_refusal_names_the_time() -> None:
    refusal = paused_refusal(NOW)
    assert refusal.code == RefusalCode.CA_RATE_LIMITED
    assert "2026-11-26T12:00:00+00:00" in refusal.message


@pytest.mark.parametrize(
    ("public_suffix", "expected"),
    [(False, "iot.example"), (True, "abcdefghijklmnop.iot.example")],
)
def test_registered_domain(public_suffix: bool, expected: str) -> None:
    settings = IssuerSettings(zone="iot.example", zone_is_public_suffix=public_suffix)
    assert settings.registered_domain("abcdefghijklmnop") == expected


async def test_pause_is_stored_announced_and_only_ever_extended(tmp_path: Path) -> None:
    clock = Clock(NOW)
    sessions = sessions_for(sqlite_url(tmp_path))
    bus, seen = EventBus(), list[CaPaused]()
    bus.subscribe(CaPaused, seen.append)
    ca = LimitedCA(None)
    limits = OrderLimits(sessions, ca, IssuerSettings(), bus, clock)
    await limits.check("iot.example", renewal=False)  # nothing stops an order yet
    refusal = await limits.paused("iot.example", RateLimited("slow down", NOW + timedelta(hours=2)))
    assert "14:00:00" in refusal.message
    await limits.paused("iot.example", RateLimited("again", NOW + timedelta(hours=1)))
    with sessions.begin() as s:
        assert pauses.paused_until(s, ca.name, "iot.example") == NOW + timedelta(hours=2)
        assert pauses.paused_until(s, "other-ca", "iot.example") is None
    assert [e.until for e in seen] == [NOW + timedelta(hours=2), NOW + timedelta(hours=1)]
    with pytest.raises(Refusal):
        await limits.check("iot.example", renewal=True)  # a pause stops renewals too
    await limits.check("other.example", renewal=False)
    clock.advance(timedelta(hours=2))
    await limits.check("iot.example", renewal=False)


async def test_a_ca_pause_holds_across_issuers_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    """Issuer A is told "rate limited"; issuer B, on the same PostgreSQL database, refuses
    the next box without asking the CA (the pause is a row, not a per-process memory)."""
    clock = Clock(NOW)
    ca_a, ca_b = LimitedCA(clock() + timedelta(hours=1)), LimitedCA(None)
    issuer_a = make_issuer(tmp_path / "a", url=postgres_url, ca=ca_a, clock=clock)
    issuer_b = make_issuer(tmp_path / "b", url=postgres_url, ca=ca_b, clock=clock)
    issuer_a.register("db-1", "CODE-0001")
    with pytest.raises(Refusal):
        await issuer_a.service.handle(box_request("db-1", "CODE-0001"))
    with pytest.raises(Refusal) as refused:
        await issuer_b.service.handle(box_request("db-1", "CODE-0001"))
    assert refused.value.code == RefusalCode.CA_RATE_LIMITED
    assert "13:00:00" in refused.value.message
    assert (ca_a.calls, ca_b.calls) == (1, 0)
    clock.advance(timedelta(hours=1, minutes=1))
    with pytest.raises(Refusal):
        await issuer_b.service.handle(box_request("db-1", "CODE-0001"))
    assert ca_b.calls == 1  # the pause is over for everyone
