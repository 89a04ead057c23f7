"""Sessions, cookies, CSRF and logins of boxcert.web, on a small site served over real sockets."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from boxcert import devstack
from boxcert.web import LoginThrottle, MemorySessionStore, Session, Window
from boxcert.web.sessions import COOKIE, SECURE_COOKIE
from tests.web_running import serve_app
from tests.web_site import DictAccounts, FakeClock, build_site, csrf_of, login


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def accounts() -> DictAccounts:
    accounts = DictAccounts()
    accounts.set_password("alice", "alice's password")
    return accounts


@pytest.fixture
def site(clock: FakeClock, accounts: DictAccounts) -> Iterator[str]:
    with serve_app(build_site(clock, accounts)) as url:
        yield url


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30)


def test_a_first_visit_gets_a_private_cookie(site: str) -> None:
    with client(site) as c:
        answer = c.get("/login")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip() for a in cookie.split(";")[1:]}
    assert attributes == {"Path=/", "HttpOnly", "SameSite=Strict"}  # no Secure over plain http
    assert "<script" not in answer.text


def test_over_https_the_cookie_is_secure_and_host_prefixed(
    tmp_path: Path, clock: FakeClock, accounts: DictAccounts
) -> None:
    ca, cert, key = devstack.tls_files(tmp_path / "tls")
    with (
        serve_app(build_site(clock, accounts, hsts=True), tls=(cert, key)) as url,
        httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=ca), timeout=30) as c,
    ):
        first = c.get("/login")
        assert first.headers["set-cookie"].startswith(f"{SECURE_COOKIE}=")
        assert "; Secure" in first.headers["set-cookie"]
        assert first.headers["strict-transport-security"] == "max-age=31536000"
        assert login(c, "alice", "alice's password").status_code == 303
        assert "Hello alice" in c.get("/").text


def test_login_gives_a_new_cookie_and_the_old_one_opens_nothing(site: str) -> None:
    with client(site) as c:
        before = c.get("/login").cookies[COOKIE]
        answer = login(c, "alice", "alice's password")
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        after = c.cookies[COOKIE]
        assert after != before
        assert "Hello alice" in c.get("/").text
    with httpx.Client(base_url=site, cookies={COOKIE: before}, timeout=30) as fixated:
        assert fixated.get("/").status_code == 303


def test_pages_and_api_refuse_visitors_not_logged_in(site: str) -> None:
    with client(site) as c:
        page = c.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        api = c.get("/api/me")
        assert api.status_code == 401
        assert api.json() == {"error": {"code": "unauthorized", "message": "log in first"}}
        token = csrf_of(c.get("/login"))
        posted = c.post("/act", data={"csrf_token": token, "thing": "x"})
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")


def test_posts_without_the_visitors_csrf_token_are_refused(site: str) -> None:
    with client(site) as c, client(site) as other:
        login(c, "alice", "alice's password")
        page = c.get("/")
        no_token = c.post("/act", data={"thing": "no token"})
        assert no_token.status_code == 403 and "no token" not in no_token.text
        assert "This form has expired" in no_token.text
        foreign = csrf_of(other.get("/login"))
        assert c.post("/act", data={"csrf_token": foreign, "thing": "x"}).status_code == 403
        wrong = c.post("/act", data={"csrf_token": "0" * 64, "thing": "x"})
        assert wrong.status_code == 403
        good = c.post("/act", data={"csrf_token": csrf_of(page), "thing": "sent"})
        assert good.status_code == 200 and '<p id="echo">sent</p>' in good.text
        header = c.post(
            "/act", data={"thing": "by header"}, headers={"X-CSRF-Token": csrf_of(page)}
        )
        assert header.status_code == 200 and "by header" in header.text


def test_the_login_form_itself_needs_the_token(site: str) -> None:
    with client(site) as c:
        c.get("/login")
        answer = c.post("/login", data={"username": "alice", "password": "alice's password"})
        assert answer.status_code == 403
        assert c.get("/").status_code == 303


def test_exempt_paths_never_see_a_session(site: str) -> None:
    with client(site) as c:
        login(c, "alice", "alice's password")
        answer = c.post("/machine/ping", content=b'{"x": 1}')
        assert answer.status_code == 200
        assert answer.json() == {"visit": False, "body": '{"x": 1}'}
        assert "set-cookie" not in answer.headers


def test_sessions_end_when_idle_and_after_their_absolute_lifetime(
    site: str, clock: FakeClock
) -> None:
    with client(site) as c:
        login(c, "alice", "alice's password")
        clock.advance(minutes=59)
        assert c.get("/").status_code == 200
        clock.advance(minutes=59)  # the previous request counted as activity
        assert c.get("/").status_code == 200
        clock.advance(minutes=61)
        assert c.get("/").status_code == 303
        login(c, "alice", "alice's password")
        for _ in range(10):  # active all the time, but not for longer than 8 hours
            clock.advance(minutes=50)
            status = c.get("/").status_code
        assert status == 303


def test_a_new_password_ends_open_sessions(site: str, accounts: DictAccounts) -> None:
    with client(site) as c:
        login(c, "alice", "alice's password")
        assert c.get("/").status_code == 200
        accounts.set_password("alice", "a new password")
        assert c.get("/").status_code == 303
        assert login(c, "alice", "a new password").status_code == 303


def test_logout_ends_the_session(site: str) -> None:
    with client(site) as c:
        login(c, "alice", "alice's password")
        old = c.cookies[COOKIE]
        answer = c.post("/logout", data={"csrf_token": csrf_of(c.get("/"))})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert c.get("/").status_code == 303
    with httpx.Client(base_url=site, cookies={COOKIE: old}, timeout=30) as replay:
        assert replay.get("/").status_code == 303


def test_wrong_password_and_unknown_name_get_the_same_answer(site: str) -> None:
    with client(site) as c:
        wrong = login(c, "alice", "not it")
        unknown = login(c, "mallory", "not it")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text
    assert csrf_of(wrong) and wrong.text.replace(csrf_of(wrong), "") == unknown.text.replace(
        csrf_of(unknown), ""
    )


def test_failed_logins_are_throttled_per_address(clock: FakeClock, accounts: DictAccounts) -> None:
    throttle = LoginThrottle(clock=clock, per_client=Window(3, timedelta(minutes=15)))
    with serve_app(build_site(clock, accounts, throttle=throttle)) as url, client(url) as c:
        for _ in range(3):
            assert login(c, "alice", "guess").status_code == 401
        locked = login(c, "alice", "alice's password")
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) == 15 * 60
        assert "Too many failed logins" in locked.text
        clock.advance(minutes=15)
        assert login(c, "alice", "alice's password").status_code == 303


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/act", "/act"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_after_login_only_local_paths_are_followed(site: str, target: str, expected: str) -> None:
    with client(site) as c:
        token = csrf_of(c.get("/login"))
        answer = c.post(
            "/login",
            data={
                "csrf_token": token,
                "username": "alice",
                "password": "alice's password",
                "next": target,
            },
        )
    assert answer.status_code == 303 and answer.headers["location"] == expected


def test_the_login_form_remembers_where_the_visitor_was_going(site: str) -> None:
    with client(site) as c:
        form = c.get("/login", params={"next": "/act"})
        assert 'name="next" value="/act"' in form.text
        evil = c.get("/login", params={"next": "//evil.example"})
        assert 'name="next" value="/"' in evil.text


def test_unreadable_or_huge_forms_are_refused(site: str) -> None:
    with client(site) as c:
        c.get("/login")
        form = {"content-type": "application/x-www-form-urlencoded"}
        bad = c.post("/login", content=b"password=\xff\xfe", headers=form)
        assert bad.status_code == 400 and "not valid UTF-8" in bad.text
        huge = c.post("/login", content=b"a=" + b"x" * 20_000, headers=form)
        assert huge.status_code == 413
        assert huge.headers["x-frame-options"] == "DENY"


def test_the_memory_store_keeps_at_most_its_bound() -> None:
    store = MemorySessionStore(max_sessions=3)
    clock = FakeClock()
    for i in range(5):
        store.put(f"k{i}", Session("a", "s", clock(), clock()))
    assert [store.get(f"k{i}") is not None for i in range(5)] == [False, False, True, True, True]
    store.delete("k4")
    assert store.get("k4") is None
