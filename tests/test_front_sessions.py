"""Sessions, CSRF tokens and the login throttle, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from boxcert.box.front.sessions import (
    LoginThrottle,
    SessionBook,
    SessionPolicy,
    new_cookie,
    set_cookie_header,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_csrf_token_is_bound_to_the_cookie_and_the_process() -> None:
    book, other = SessionBook(), SessionBook()
    cookie = new_cookie()
    token = book.csrf_token(cookie)
    assert book.csrf_ok(cookie, token)
    assert not book.csrf_ok(new_cookie(), token)
    assert not other.csrf_ok(cookie, token)
    assert not book.csrf_ok("", book.csrf_token(""))
    assert not book.csrf_ok(cookie, "é" * 64)


def test_sessions_end_when_idle_too_old_or_under_another_stamp() -> None:
    clock = Clock()
    book = SessionBook(
        clock=clock, policy=SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=2))
    )
    cookie = book.login("s1")
    assert book.logged_in(cookie, "s1") and not book.logged_in(new_cookie(), "s1")
    assert not book.logged_in("short", "s1")
    for _ in range(3):
        clock.now += timedelta(minutes=29)
        assert book.logged_in(cookie, "s1")
    clock.now += timedelta(minutes=40)  # 127 minutes in, 40 idle
    assert not book.logged_in(cookie, "s1")
    fresh = book.login("s1")
    clock.now += timedelta(minutes=1)
    assert not book.logged_in(fresh, "s2") and not book.logged_in(fresh, "s1")
    kept = book.login("s1")
    book.logout(kept)
    assert not book.logged_in(kept, "s1")


def test_sessions_are_bounded() -> None:
    book = SessionBook(policy=SessionPolicy(max_sessions=3))
    cookies = [book.login("s") for _ in range(5)]
    assert [book.logged_in(c, "s") for c in cookies] == [False, False, True, True, True]


def test_cookie_header() -> None:
    assert (
        set_cookie_header("v", True) == "boxcert_box=v; Path=/; HttpOnly; SameSite=Strict; Secure"
    )
    assert "Secure" not in set_cookie_header("v", False)


def test_throttle_per_client_and_overall() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, per_client=3, overall=5, window=timedelta(minutes=15))
    for _ in range(3):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
    wait = throttle.retry_after("a")
    assert wait == timedelta(minutes=15)
    assert throttle.retry_after("b") is None
    clock.now += timedelta(minutes=15)
    assert throttle.retry_after("a") is None
    for client in "bcdef":
        throttle.failed(client)
    assert throttle.retry_after("g") is not None  # 5 failures from all addresses together
    throttle.succeeded("b")
    clock.now += timedelta(minutes=16)
    assert throttle.retry_after("g") is None
