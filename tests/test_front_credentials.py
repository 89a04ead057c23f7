"""The credentials page on the real agent: login, CSRF, throttle, masking, password change —
and the contract code never reaching a client that has not logged in."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from boxcert.box.front.backend import Credentials
from boxcert.box.front.credentials import mask
from boxcert.web.sessions import SECURE_COOKIE
from tests.front_support import RunningFront, csrf_of, front

CODE = "CONTRACT-SECRET-7f3e9a2b41"
token = csrf_of


def log_in(f: RunningFront, client: httpx.Client, password: str | None = None) -> httpx.Response:
    form = client.get(f.url("/box/login")).text
    return client.post(
        f.url("/box/login"), data={"csrf_token": token(form), "password": password or f.password}
    )


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("", ""),
        ("abc", "••••••••"),
        ("abcdef", "••••••••"),
        ("abcdefgh", "••••••••gh"),
        ("C-12345678", "••••••••678"),
        (CODE, "••••••••2b41"),
    ],
)
def test_mask_shows_at_most_the_last_four(code: str, shown: str) -> None:
    assert mask(code) == shown


def test_refused_without_login_with_a_wrong_password_and_without_csrf(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        before = f.paths.config.read_bytes()
        page = client.get(f.url("/box/credentials"))
        assert page.status_code == 303
        assert page.headers["location"] == "/box/login?next=/box/credentials"
        form = client.get(f.url("/box/login"))
        assert form.headers["cache-control"] == "no-store"
        blind = client.post(
            f.url("/box/credentials"),
            data={"csrf_token": token(form.text), "server": "https://evil", "db_uuid": "x"},
        )
        assert blind.status_code == 303 and blind.headers["location"].startswith("/box/login")
        wrong = log_in(f, client, "not the password")
        assert wrong.status_code == 401 and "Wrong password." in wrong.text
        no_csrf = client.post(f.url("/box/login"), data={"password": f.password})
        assert no_csrf.status_code == 403
        other_cookie = f.client().post(
            f.url("/box/login"), data={"csrf_token": token(form.text), "password": f.password}
        )
        assert other_cookie.status_code == 403  # the token belongs to another visitor's cookie
        assert client.get(f.url("/box/credentials")).status_code == 303
        assert f.paths.config.read_bytes() == before


def test_login_save_and_mask(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        client.get(f.url("/box/login"))
        first_cookie = client.cookies.get(SECURE_COOKIE, "")
        done = log_in(f, client)
        assert done.status_code == 303 and done.headers["location"] == "/box/credentials"
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
        assert client.cookies[SECURE_COOKIE] != first_cookie  # a new cookie on login
        page = client.get(f.url("/box/credentials"))
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        saved = client.post(
            f.url("/box/credentials"),
            data={
                "csrf_token": token(page.text),
                "server": "https://erp.example.com",
                "db_uuid": "6f1c1d0e-2b4e-4d6a-9a7b-0c1d2e3f4a5b",
                "contract_code": CODE,
            },
        )
        assert saved.status_code == 303
        assert f.backend.credentials() == Credentials(
            "https://erp.example.com", "6f1c1d0e-2b4e-4d6a-9a7b-0c1d2e3f4a5b", CODE
        )
        shown = client.get(f.url("/box/credentials?saved=1")).text
        assert CODE not in shown and "••••••••2b41" in shown and "Saved." in shown
        kept = client.post(
            f.url("/box/credentials"),
            data={
                "csrf_token": token(shown),
                "server": "https://erp2.example.com",
                "db_uuid": "u",
                "contract_code": "",
            },
        )
        assert kept.status_code == 303 and f.backend.credentials().contract_code == CODE
        bad = client.post(
            f.url("/box/credentials"),
            data={"csrf_token": token(shown), "server": "erp.example.com", "db_uuid": "u"},
        )
        assert bad.status_code == 400 and "server URL must be an http(s) URL" in bad.text
        assert CODE not in bad.text


def test_throttle_after_five_wrong_passwords(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as client:
        for _ in range(5):
            assert log_in(f, client, "guess").status_code == 401
        locked = log_in(f, client)  # even the right password waits now
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert client.get(f.url("/box/credentials")).status_code == 303


def test_password_change_ends_other_sessions(tmp_path: Path) -> None:
    with front(tmp_path) as f, f.client() as mine, f.client() as other:
        log_in(f, mine)
        log_in(f, other)
        page = mine.get(f.url("/box/credentials")).text
        short = mine.post(
            f.url("/box/password"),
            data={"csrf_token": token(page), "current": f.password, "new": "short"},
        )
        assert short.status_code == 400
        changed = mine.post(
            f.url("/box/password"),
            data={"csrf_token": token(page), "current": f.password, "new": "a new long password"},
        )
        assert changed.status_code == 303
        wrong = mine.post(
            f.url("/box/password"),
            data={"csrf_token": token(page), "current": "not it", "new": "yet another one"},
        )
        assert wrong.status_code == 403  # the login swapped the cookie, so the token too
        page = mine.get(f.url("/box/credentials")).text
        wrong = mine.post(
            f.url("/box/password"),
            data={"csrf_token": token(page), "current": "not it", "new": "yet another one"},
        )
        assert wrong.status_code == 401 and "current password is wrong" in wrong.text
        assert mine.get(f.url("/box/credentials")).status_code == 200
        assert other.get(f.url("/box/credentials")).status_code == 303
        assert log_in(f, other, "a new long password").status_code == 303
        logout_page = other.get(f.url("/box/credentials")).text
        assert 'action="/box/logout"' in logout_page
        out = other.post(f.url("/box/logout"), data={"csrf_token": token(logout_page)})
        assert out.status_code == 303 and out.headers["location"] == "/box/login"
        assert other.get(f.url("/box/credentials")).status_code == 303


def test_the_contract_code_reaches_no_unauthenticated_client(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        f.backend.save_credentials(Credentials("https://erp.example.com", "uuid-1", CODE))
        assert CODE in f.paths.config.read_text()  # stored (0600), never shown
        bodies: list[str] = []
        with f.client() as client:
            for path in (
                "/",
                "/box/",
                "/status.json",
                "/box/login",
                "/box/credentials",
                "/box/errors/",
                "/box/errors/ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL",
                "/nothing",
                "/box/nothing",
            ):
                for url in (f.url(path), f.http_url(path)):
                    bodies.append(client.get(url).text)
            form = client.get(f.url("/box/login")).text
            for data in (
                {"csrf_token": token(form), "password": "wrong"},
                {"csrf_token": token(form), "password": CODE},
                {"password": "x"},
            ):
                bodies.append(client.post(f.url("/box/login"), data=data).text)
            bodies.append(
                client.post(
                    f.url("/box/credentials"),
                    data={"csrf_token": token(form), "contract_code": "x"},
                ).text
            )
        assert not [b for b in bodies if CODE in b or CODE[-8:] in b]
        assert len(bodies) > 20
