"""Logging in and out, and keeping pages behind the login.

A site describes its accounts with :class:`Accounts` and gets from :class:`LoginGate`:

- the routes ``GET /login`` (the form), ``POST /login`` and ``POST /logout`` (under the
  pages' ``mount``, see :class:`~boxcert.web.pages.Pages`);
- :meth:`LoginGate.page` and :meth:`LoginGate.api`, wrappers for endpoints that need a
  logged-in visitor: a page sends others to the login form (303, then back), an API answers 401
  in our JSON error shape.

Failed logins go through the site's :class:`~boxcert.web.throttle.LoginThrottle` (429 when
locked out; the password is not even checked then). Password checks run in worker threads, at
most two at a time, so a flood of logins cannot take every core or much memory (a check uses
32 MiB). The answer to a wrong password never says whether the account exists.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from boxcert import secrets
from boxcert.clock import Clock, system_clock
from boxcert.web.pages import Pages
from boxcert.web.sessions import visit_of
from boxcert.web.throttle import LoginThrottle
from boxcert.wire.errors import ErrorBody, HttpErrorCode

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Account:
    """Who logged in. ``stamp`` changes whenever the password does (a hash of the stored
    hash will do); sessions opened under another stamp end."""

    id: str
    stamp: str


class Accounts(Protocol):
    """A site's accounts. Both methods may block (hash, query): they run in worker threads."""

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account when the password is right, else None — the same answer, after the same
        work, for an unknown user and a wrong password (see ``boxcert.secrets.burn_time``)."""
        ...

    def stamp(self, account_id: str) -> str | None:
        """The account's current stamp; None when it no longer exists."""
        ...


def password_stamp(stored: str) -> str:
    """A stamp for :class:`Account` that changes with the stored password hash (and is not
    the hash)."""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def check_stored_password(account_id: str, stored: str | None, password: str) -> Account | None:
    """:meth:`Accounts.authenticate` of a site with one account whose password hash (from
    :func:`boxcert.secrets.hash_secret`) is ``stored`` (None: no password yet, nobody gets in,
    after the same work)."""
    if not stored:
        secrets.burn_time()
        return None
    if not secrets.verify_secret(password, stored):
        return None
    return Account(account_id, password_stamp(stored))


def _local_path(target: str, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


class LoginGate:
    def __init__(
        self,
        accounts: Accounts,
        pages: Pages,
        *,
        throttle: LoginThrottle | None = None,
        home: str = "/",
        ask_username: bool = False,
        clock: Clock = system_clock,
    ) -> None:
        self.accounts = accounts
        self.pages = pages
        self.throttle = throttle or LoginThrottle(clock=clock)
        self.home = home
        self.ask_username = ask_username
        self.clock = clock
        self._checks = asyncio.Semaphore(2)

    def routes(self) -> list[Route]:
        login, logout = self.pages.login_path, self.pages.logout_path
        return [
            Route(login, self._form, methods=["GET"]),
            Route(login, self._login, methods=["POST"]),
            Route(logout, self._logout, methods=["POST"]),
        ]

    def page(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a page: visitors not logged in are sent to the login form and back."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            visit = visit_of(request)
            if visit is None or not visit.logged_in:
                target = quote(request.url.path, safe="/")
                login = self.pages.login_path
                return RedirectResponse(f"{login}?next={target}", status_code=303)
            return await endpoint(request)

        return guarded

    def api(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a JSON endpoint: visitors not logged in get 401."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            visit = visit_of(request)
            if visit is None or not visit.logged_in:
                body = ErrorBody(HttpErrorCode.UNAUTHORIZED, "log in first")
                return JSONResponse(body.to_json(), status_code=401)
            return await endpoint(request)

        return guarded

    def _render_form(self, request: Request, status: int = 200, error: str = "") -> Response:
        target = _local_path(request.query_params.get("next", ""), self.home)
        return self.pages.render(
            request,
            "login.html",
            status=status,
            error=error,
            next=target,
            ask_username=self.ask_username,
            title="Log in",
        )

    async def _form(self, request: Request) -> Response:
        visit = visit_of(request)
        if visit is not None and visit.logged_in:
            return RedirectResponse(self.home, status_code=303)
        return self._render_form(request)

    async def check_password(
        self, request: Request, username: str, password: str
    ) -> Account | Response | None:
        """The account when the password is right, None when it is wrong (counted as a failed
        login), or the answer to give at once while the client is locked out (429, before any
        password work). For a login form, and for any form that asks for the password again."""
        client = request.client.host if request.client else "unknown"
        wait = self.throttle.retry_after(client)
        if wait is not None:
            minutes = max(1, round(wait.total_seconds() / 60))
            return self.pages.message(
                request,
                429,
                "Too many attempts",
                f"Too many failed logins. Try again in {minutes} minute(s).",
                headers={"Retry-After": str(max(1, int(wait.total_seconds())))},
            )
        account = None
        if 0 < len(password) <= MAX_PASSWORD_CHARS and len(username) <= 256:
            async with self._checks:
                account = await run_in_threadpool(self.accounts.authenticate, username, password)
        if account is None:
            self.throttle.failed(client)
            return None
        self.throttle.succeeded(client)
        return account

    async def _login(self, request: Request) -> Response:
        visit = visit_of(request)
        if visit is None:  # the Sessions middleware is missing: refuse rather than guess
            return self.pages.message(request, 500, "Unavailable", "Logins are not set up.")
        checked = await self.check_password(
            request, visit.form.get("username", ""), visit.form.get("password", "")
        )
        if isinstance(checked, Response):
            return checked
        if checked is None:
            return self._render_form(
                request,
                401,
                "Wrong password." if not self.ask_username else "Wrong name or password.",
            )
        visit.login(checked.id, checked.stamp, self.clock())
        target = _local_path(visit.form.get("next", ""), self.home)
        return RedirectResponse(target, status_code=303)

    async def _logout(self, request: Request) -> Response:
        visit = visit_of(request)
        if visit is not None:
            visit.logout()
        return RedirectResponse(self.pages.login_path, status_code=303)
