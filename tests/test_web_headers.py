"""Security headers on every answer of a boxcert.web site, whatever the answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from boxcert.web.headers import DEFAULT_CSP
from tests.web_running import serve_app
from tests.web_site import DictAccounts, FakeClock, build_site, csrf_of, login

ALWAYS = {
    "x-frame-options": "DENY",
    "content-security-policy": DEFAULT_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    accounts = DictAccounts()
    accounts.set_password("alice", "alice's password")
    with serve_app(build_site(FakeClock(), accounts, hsts=True)) as url:
        yield url


def answers(url: str) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=url, timeout=30) as c:
        seen = {
            "login page": c.get("/login"),
            "redirect": c.get("/"),
            "api 401": c.get("/api/me"),
            "csrf 403": c.post("/act", data={"thing": "x"}),
            "not found": c.get("/nowhere"),
            "wrong method": c.delete("/login", headers={"X-CSRF-Token": "x"}),
            "machine": c.post("/machine/ping"),
            "stylesheet": c.get("/static/boxcert.css"),
        }
        login(c, "alice", "alice's password")
        seen["page"] = c.get("/")
        seen["api"] = c.get("/api/me")
        seen["form post"] = c.post("/act", data={"csrf_token": csrf_of(seen["page"])})
    return seen


def test_every_answer_carries_the_headers(site: str) -> None:
    for name, answer in answers(site).items():
        for header, value in ALWAYS.items():
            assert answer.headers.get(header) == value, (name, header)
        # The page's own answer is HTTP: HSTS only ever goes out over HTTPS.
        assert "strict-transport-security" not in answer.headers, name


def test_no_store_only_where_asked_and_the_stylesheet_is_cacheable(site: str) -> None:
    seen = answers(site)
    assert seen["api"].headers["cache-control"] == "no-store"
    assert seen["api 401"].headers["cache-control"] == "no-store"
    assert "cache-control" not in seen["login page"].headers
    css = seen["stylesheet"]
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_the_policy_allows_no_script_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in DEFAULT_CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "script-src" not in directives
