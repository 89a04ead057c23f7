"""How the front answers depending on how it was reached: plain HTTP before and after a trusted
certificate, HSTS, security headers, own paths, the JSON status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.box.front.app import is_own_path, redirect_target
from boxcert.box.front.context import box_pages
from tests.front_support import csrf_of, front

PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("path", "own"),
    [
        ("/", True),
        ("/status.json", True),
        ("/box/", True),
        ("/box/login", True),
        ("/box", True),
        ("/boxes", False),
        ("/web/login", False),
        ("/status.json/x", False),
    ],
)
def test_own_paths(path: str, own: bool) -> None:
    assert is_own_path(path) is own


@pytest.mark.parametrize(
    ("host", "port", "path", "query", "expected"),
    [
        ("a.b.c", 443, b"/", b"", "https://a.b.c/"),
        ("a.b.c", 8443, b"/x/y", b"q=1&r=%20", "https://a.b.c:8443/x/y?q=1&r=%20"),
    ],
)
def test_redirect_target(host: str, port: int, path: bytes, query: bytes, expected: str) -> None:
    scope = {"path": path.decode(), "raw_path": path, "query_string": query}
    assert redirect_target(host, port, scope) == expected


def test_plain_http_serves_the_homepage_until_trusted_then_redirects_to_the_name(
    tmp_path: Path,
) -> None:
    with front(tmp_path, installed=False) as f:
        plain = f.client().get(f.http_url("/"))
        assert plain.status_code == 200 and "without HTTPS" in plain.text
        assert "strict-transport-security" not in f.client().get(f.url("/")).headers
        f.install()
        moved = f.client().get(f.http_url("/box/errors/?x=1"))
        assert moved.status_code == 307
        assert moved.headers["location"] == f.name_url("/box/errors/?x=1")
        assert "127.0.0.1" not in moved.headers["location"]
        secure = f.client().get(f.url("/"))
        assert secure.headers["strict-transport-security"] == "max-age=86400"


def test_an_expired_certificate_is_not_trusted(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        now = datetime.now(UTC)
        f.install(not_before=now - timedelta(days=90), not_after=now - timedelta(days=1))
        assert f.client().get(f.http_url("/")).status_code == 200
        assert "strict-transport-security" not in f.client().get(f.url("/")).headers


def test_security_headers_on_every_own_page(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        for path in (
            "/",
            "/status.json",
            "/box/errors/",
            "/box/login",
            "/box/nothing",
            "/nothing-without-upstream",
        ):
            response = client.get(f.url(path))
            for name, value in PAGE_HEADERS.items():
                assert response.headers[name] == value, (path, name)
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-store", path
        css = client.get(f.url(box_pages().stylesheet_url))
        assert css.status_code == 200 and "immutable" in css.headers["cache-control"]
        assert "--ink" in css.text and ".foot" in css.text  # the shared sheet, then the box's


def test_not_found_and_wrong_method_are_pages_not_tracebacks(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        missing = client.get(f.url("/anything"))
        assert missing.status_code == 404 and "no page at this address" in missing.text
        assert client.post(f.url("/status.json")).status_code == 403  # CSRF comes first
        token = csrf_of(client.get(f.url("/")).text)
        wrong = client.post(f.url("/status.json"), headers={"X-CSRF-Token": token})
        assert wrong.status_code == 405 and "Traceback" not in wrong.text
        assert client.get(f.url("/box/errors/NOPE")).status_code == 404
        odd = client.post(
            f.url("/box/refresh"),
            content=b"\xff\xfe",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert odd.status_code == 400
        big = client.post(
            f.url("/box/refresh"),
            content=b"a=" + b"x" * 20000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert big.status_code == 413
        json_post = client.post(f.url("/box/refresh"), json={"a": 1})
        assert json_post.status_code == 403  # no CSRF token in it


def test_status_json_is_the_status_object(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        body = f.client().get(f.url("/status.json")).json()
        assert body["status"] == "ok" and body["error_code"] is None
        assert body["url"] == f.box_url
        assert set(body["certificate"]["sans"]) == set(f.box.names)
        assert body["hub"]["state"] == "none"
        assert body == f.backend.status().to_json()  # the `box status --json` object


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_homepage_asks_for_a_debounced_check_and_refresh_forces_one(tmp_path: Path) -> None:
    clock = ManualClock()
    with front(tmp_path, clock=clock) as f, f.client() as client:
        for _ in range(5):
            assert client.get(f.url("/")).status_code == 200
        clock.advance(30)
        page = client.get(f.url("/")).text
        assert f.backend.requests_sent == 1  # one per interval, however many page loads
        token = csrf_of(page)
        refused = client.post(f.url("/box/refresh"), data={"csrf_token": "x" * 64})
        assert refused.status_code == 403 and f.backend.requests_sent == 1
        done = client.post(f.url("/box/refresh"), data={"csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert f.backend.requests_sent == 2  # Refresh skips the interval
        clock.advance(61)
        client.get(f.url("/"))
        assert f.backend.requests_sent == 3
