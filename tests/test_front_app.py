"""How the front answers depending on how it was reached: plain HTTP before and after a trusted
certificate, HSTS, security headers, own paths, the JSON status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.box.front.app import is_own_path, redirect_target
from boxcert.box.front.localbackend import LocalBackend
from tests.front_support import front

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
        css = client.get(f.url("/box/static/front.css"))
        assert css.status_code == 200 and "immutable" in css.headers["cache-control"]


def test_not_found_and_wrong_method_are_pages_not_tracebacks(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        missing = client.get(f.url("/anything"))
        assert missing.status_code == 404 and "no page at this address" in missing.text
        wrong = client.post(f.url("/status.json"))
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
        assert json_post.status_code == 415


def test_status_json_is_the_status_object(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        body = f.client().get(f.url("/status.json")).json()
        assert body["status"] == "ok" and body["error_code"] is None
        assert body["url"] == f.backend.url
        assert set(body["certificate"]["sans"]) == set(f.box.names)


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _wait_idle(backend: LocalBackend) -> None:
    for _ in range(1000):
        if not backend.status().checking:
            return
        time.sleep(0.01)


def test_homepage_asks_for_a_debounced_check_and_refresh_forces_one(tmp_path: Path) -> None:
    clock = ManualClock()
    backend = LocalBackend(tmp_path / "box", clock=clock)
    with front(tmp_path, backend=backend) as f, f.client() as client:
        for _ in range(5):
            assert client.get(f.url("/")).status_code == 200
        _wait_idle(backend)
        clock.advance(30)
        page = client.get(f.url("/")).text
        assert backend.checks_started == 1  # one per interval, however many page loads
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        refused = client.post(f.url("/box/refresh"), data={"csrf_token": "x" * 64})
        assert refused.status_code == 403 and backend.checks_started == 1
        done = client.post(f.url("/box/refresh"), data={"csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert backend.checks_started == 2  # Refresh skips the interval
        _wait_idle(backend)
        clock.advance(61)
        client.get(f.url("/"))
        assert backend.checks_started == 3
