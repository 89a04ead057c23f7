"""The credentials page and the box password, behind the box login.

``/box/credentials`` (show, POST to save) and ``/box/password`` (POST to change the box
password); the login itself is :class:`boxcert.web.LoginGate`'s (``/box/login``,
``/box/logout``). A wrong current password counts in the same throttle as a failed login. The
contract code is never sent back, not even to a logged-in visitor: the page shows it masked
(:func:`mask`), and an empty field keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from boxcert.box.front.backend import Credentials, CredentialsError
from boxcert.box.front.context import FrontContext
from boxcert.box.front.password import MAX_PASSWORD_CHARS, MIN_NEW_PASSWORD_CHARS
from boxcert.web import visit_of

log = logging.getLogger(__name__)


def mask(code: str) -> str:
    """The contract code as the page may show it: its last 4 characters at most, and never
    more than a third of it (none of a code under 8 characters); the rest as dots."""
    if not code:
        return ""
    shown = min(4, len(code) // 3) if len(code) >= 8 else 0
    return "•" * 8 + (code[-shown:] if shown else "")


def routes(front: FrontContext) -> list[Route]:
    pages, gate = front.pages, front.gate

    def credentials_page(
        request: Request, status: int = 200, error: str = "", saved: str = ""
    ) -> Response:
        creds = front.backend.credentials()
        return pages.render(
            request,
            "credentials.html",
            status=status,
            title="Credentials",
            creds=replace(creds, contract_code=""),
            masked=mask(creds.contract_code),
            error=error,
            saved=saved,
            min_chars=MIN_NEW_PASSWORD_CHARS,
        )

    async def show(request: Request) -> Response:
        saved = ""
        if "saved" in request.query_params:
            saved = "Saved. The box checks its certificate again."
        elif "password" in request.query_params:
            saved = "The box password is changed."
        return await run_in_threadpool(credentials_page, request, 200, "", saved)

    async def save(request: Request) -> Response:
        visit = visit_of(request)
        form = visit.form if visit is not None else {}
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
        return RedirectResponse("/box/credentials?saved=1", status_code=303)

    async def change_password(request: Request) -> Response:
        visit = visit_of(request)
        if visit is None:
            return pages.message(request, 500, "Unavailable", "Logins are not set up.")
        new = visit.form.get("new", "")
        if not MIN_NEW_PASSWORD_CHARS <= len(new) <= MAX_PASSWORD_CHARS:
            return await run_in_threadpool(
                credentials_page,
                request,
                400,
                f"The new password needs {MIN_NEW_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} "
                "characters.",
            )
        checked = await gate.check_password(request, "", visit.form.get("current", ""))
        if isinstance(checked, Response):
            return checked
        if checked is None:
            log.info("a wrong current box password on the credentials page")
            return await run_in_threadpool(
                credentials_page, request, 401, "The current password is wrong."
            )
        await run_in_threadpool(front.accounts.change, new)
        stamp = await run_in_threadpool(front.accounts.stamp, checked.id)
        log.info("the box password was changed; other sessions end")
        visit.login(checked.id, stamp or "", front.clock())
        return RedirectResponse("/box/credentials?password=1", status_code=303)

    return [
        Route("/box/credentials", gate.page(show), methods=["GET", "HEAD"]),
        Route("/box/credentials", gate.page(save), methods=["POST"]),
        Route("/box/password", gate.page(change_password), methods=["POST"]),
    ]
