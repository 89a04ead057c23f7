"""The box's public pages: the homepage, ``/status.json``, Refresh, the error-code pages and
the stylesheet. Nothing here needs a login, so nothing here shows a secret.

Opening the homepage asks the backend for a (debounced) check and renders at once with the
last result; the backend calls run in worker threads, so a slow backend cannot stall the loop.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from boxcert.box.front import errorpages
from boxcert.box.front.context import FrontContext
from boxcert.box.front.homepage import home_model
from boxcert.box.front.pages import STYLESHEET_PATH, FormError, read_form
from boxcert.box.front.visitor import visitor_of


def csrf_refusal(front: FrontContext) -> Response:
    return front.pages.message(
        403,
        "Not allowed",
        "This form has expired or did not come from this box. Open the page again and resend it.",
    )


async def checked_form(front: FrontContext, request: Request) -> dict[str, str] | Response:
    """The posted form when its CSRF token is right; else the answer to give."""
    try:
        form = await read_form(request)
    except FormError as err:
        return front.pages.message(err.status, "Cannot read the form", str(err))
    if not front.sessions.csrf_ok(visitor_of(request).cookie, form.get("csrf_token", "")):
        return csrf_refusal(front)
    return form


def routes(front: FrontContext) -> list[Route]:
    async def home(request: Request) -> Response:
        started = await run_in_threadpool(front.backend.request_check)
        status = await run_in_threadpool(front.backend.status)
        if started and not status.checking:
            status = replace(status, checking=True)
        model = home_model(
            status, front.switch.served, scheme=request.url.scheme, now=front.clock()
        )
        token = front.sessions.csrf_token(visitor_of(request).cookie)
        return front.pages.render("home.html", title="HTTPS status", m=model, csrf_token=token)

    async def status_json(_: Request) -> Response:
        status = await run_in_threadpool(front.backend.status)
        return JSONResponse(dict(status.json))

    async def refresh(request: Request) -> Response:
        form = await checked_form(front, request)
        if isinstance(form, Response):
            return form
        await run_in_threadpool(lambda: front.backend.request_check(force=True))
        return RedirectResponse("/", status_code=303)

    async def error_page(request: Request) -> Response:
        name = request.path_params.get("name") or errorpages.INDEX
        found = errorpages.pages().get(name)
        if found is None:
            return front.pages.message(
                404, "Unknown code", "The box has no page of that name.", back="/box/errors/"
            )
        title, body = found
        return front.pages.render("errorpage.html", title=title, body=body, name=name)

    async def stylesheet(_: Request) -> Response:
        return Response(
            front.pages.css,
            media_type="text/css",
            headers={"cache-control": "public, max-age=31536000, immutable"},
        )

    return [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/box/", home, methods=["GET", "HEAD"]),
        Route("/status.json", status_json, methods=["GET", "HEAD"]),
        Route("/box/refresh", refresh, methods=["POST"]),
        Route("/box/errors/", error_page, methods=["GET", "HEAD"]),
        Route("/box/errors/{name}", error_page, methods=["GET", "HEAD"]),
        Route(STYLESHEET_PATH, stylesheet, methods=["GET", "HEAD"]),
    ]
