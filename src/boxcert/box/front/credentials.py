"""The credentials page and the login in front of it.

``/box/login`` (form, POST), ``/box/logout`` (POST), ``/box/credentials`` (show, POST to save)
and ``/box/password`` (POST to change the box password). Every form carries the visitor's CSRF
token. Failed logins (and wrong current passwords) count in the throttle; a locked-out client
gets 429 before any password work. Password checks run in a worker thread, one at a time (each
takes 32 MiB). The contract code is never sent back, not even to a logged-in visitor: the page
shows it masked (:func:`mask`), and an empty field keeps it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from boxcert.box.front.backend import Credentials, CredentialsError
from boxcert.box.front.context import FrontContext
from boxcert.box.front.ownpages import checked_form
from boxcert.box.front.password import MAX_PASSWORD_CHARS, MIN_NEW_PASSWORD_CHARS
from boxcert.box.front.sessions import new_cookie
from boxcert.box.front.visitor import visitor_of

log = logging.getLogger(__name__)
NO_STORE = {"cache-control": "no-store"}


def mask(code: str) -> str:
    """The contract code as the page may show it: its last 4 characters at most, and never
    more than a third of it (none of a code under 8 characters); the rest as dots."""
    if not code:
        return ""
    shown = min(4, len(code) // 3) if len(code) >= 8 else 0
    return "•" * 8 + (code[-shown:] if shown else "")


def routes(front: FrontContext) -> list[Route]:
    checks = asyncio.Semaphore(1)

    def logged_in(request: Request) -> bool:
        return front.sessions.logged_in(visitor_of(request).cookie, front.passwords.stamp)

    async def password_ok(request: Request, password: str) -> Response | None:
        """None when right; else the answer (429 while throttled, 401 when wrong)."""
        client = request.client.host if request.client else "unknown"
        wait = front.throttle.retry_after(client)
        if wait is not None:
            minutes = max(1, round(wait.total_seconds() / 60))
            return front.pages.message(
                429,
                "Too many attempts",
                f"Too many wrong passwords. Try again in {minutes} minute(s).",
                headers={"retry-after": str(max(1, int(wait.total_seconds())))},
            )
        right = False
        if 0 < len(password) <= MAX_PASSWORD_CHARS:
            async with checks:
                right = await run_in_threadpool(front.passwords.check, password)
        if not right:
            front.throttle.failed(client)
            log.info("a wrong box password from %s", client)
            return login_page(request, 401, "Wrong password.")
        front.throttle.succeeded(client)
        return None

    def login_page(request: Request, status: int = 200, error: str = "") -> Response:
        token = front.sessions.csrf_token(visitor_of(request).cookie)
        return front.pages.render(
            "login.html",
            status=status,
            headers=NO_STORE,
            title="Log in",
            error=error,
            csrf_token=token,
        )

    def credentials_page(
        request: Request, status: int = 200, error: str = "", saved: str = ""
    ) -> Response:
        creds = front.backend.credentials()
        return front.pages.render(
            "credentials.html",
            status=status,
            headers=NO_STORE,
            title="Credentials",
            creds=replace(creds, contract_code=""),
            masked=mask(creds.contract_code),
            error=error,
            saved=saved,
            min_chars=MIN_NEW_PASSWORD_CHARS,
            csrf_token=front.sessions.csrf_token(visitor_of(request).cookie),
        )

    async def login_form(request: Request) -> Response:
        if logged_in(request):
            return RedirectResponse("/box/credentials", status_code=303)
        return login_page(request)

    async def login(request: Request) -> Response:
        form = await checked_form(front, request)
        if isinstance(form, Response):
            return form
        refused = await password_ok(request, form.get("password", ""))
        if refused is not None:
            return refused
        visitor_of(request).replace(front.sessions.login(front.passwords.stamp))
        return RedirectResponse("/box/credentials", status_code=303)

    async def logout(request: Request) -> Response:
        form = await checked_form(front, request)
        if isinstance(form, Response):
            return form
        visitor = visitor_of(request)
        front.sessions.logout(visitor.cookie)
        visitor.replace(new_cookie())
        return RedirectResponse("/", status_code=303)

    async def show(request: Request) -> Response:
        if not logged_in(request):
            return RedirectResponse("/box/login", status_code=303)
        saved = ""
        if "saved" in request.query_params:
            saved = "Saved. The box checks its certificate again."
        elif "password" in request.query_params:
            saved = "The box password is changed."
        return await run_in_threadpool(credentials_page, request, 200, "", saved)

    async def save(request: Request) -> Response:
        form = await checked_form(front, request)
        if isinstance(form, Response):
            return form
        if not logged_in(request):
            return RedirectResponse("/box/login", status_code=303)
        current = await run_in_threadpool(front.backend.credentials)
        new = Credentials(
            server=form.get("server", "").strip(),
            db_uuid=form.get("db_uuid", "").strip(),
            contract_code=form.get("contract_code", "").strip() or current.contract_code,
        )
        try:
            await run_in_threadpool(front.backend.save_credentials, new)
        except CredentialsError as err:
            return await run_in_threadpool(credentials_page, request, 400, str(err))
        log.info("credentials changed on the credentials page")
        await run_in_threadpool(lambda: front.backend.request_check(force=True))
        return RedirectResponse("/box/credentials?saved=1", status_code=303)

    async def change_password(request: Request) -> Response:
        form = await checked_form(front, request)
        if isinstance(form, Response):
            return form
        if not logged_in(request):
            return RedirectResponse("/box/login", status_code=303)
        new = form.get("new", "")
        if not MIN_NEW_PASSWORD_CHARS <= len(new) <= MAX_PASSWORD_CHARS:
            return await run_in_threadpool(
                credentials_page,
                request,
                400,
                f"The new password needs {MIN_NEW_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} "
                "characters.",
            )
        refused = await password_ok(request, form.get("current", ""))
        if refused is not None:
            return refused
        async with checks:
            await run_in_threadpool(front.passwords.change, new)
        log.info("the box password was changed; other sessions end")
        visitor_of(request).replace(front.sessions.login(front.passwords.stamp))
        return RedirectResponse("/box/credentials?password=1", status_code=303)

    return [
        Route("/box/login", login_form, methods=["GET", "HEAD"]),
        Route("/box/login", login, methods=["POST"]),
        Route("/box/logout", logout, methods=["POST"]),
        Route("/box/credentials", show, methods=["GET", "HEAD"]),
        Route("/box/credentials", save, methods=["POST"]),
        Route("/box/password", change_password, methods=["POST"]),
    ]
