"""The box's homepage and its public companions: ``/status.json``, Refresh, the error-code
pages; and the pairing form (behind the box login). Nothing public shows a secret.

Opening the homepage asks the backend for a (debounced) check and renders at once with the
last result; the backend calls run in worker threads, so a slow backend cannot stall the loop.
Every POST has passed the CSRF check of :class:`boxcert.web.Sessions` before it gets here.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from boxcert.box.errors import BoxError
from boxcert.box.front import errorpages
from boxcert.box.front.context import FrontContext
from boxcert.box.front.homepage import home_model
from boxcert.web import visit_of

log = logging.getLogger(__name__)


def routes(front: FrontContext) -> list[Route]:
    pages = front.pages

    async def render_home(
        request: Request, *, status: int = 200, pair_error: str = "", started: bool = False
    ) -> Response:
        view = await run_in_threadpool(front.backend.status)
        if started and not view.checking:
            view = replace(view, checking=True)
        model = home_model(view, front.switch.served, scheme=request.url.scheme, now=front.clock())
        return pages.render(
            request,
            "home.html",
            status=status,
            title="HTTPS status",
            m=model,
            pair_error=pair_error,
            paired="paired" in request.query_params,
        )

    async def home(request: Request) -> Response:
        started = await run_in_threadpool(front.backend.request_check)
        return await render_home(request, started=started)

    async def status_json(_: Request) -> Response:
        view = await run_in_threadpool(front.backend.status)
        return JSONResponse(view.to_json())

    async def refresh(_: Request) -> Response:
        await run_in_threadpool(lambda: front.backend.request_check(force=True))
        return RedirectResponse("/", status_code=303)

    async def pair(request: Request) -> Response:
        visit = visit_of(request)
        token = visit.form.get("token", "") if visit is not None else ""
        try:
            await run_in_threadpool(front.backend.pair, token)
        except BoxError as err:  # PairingError, or settings the hub's answer cannot fix
            log.info("pairing from the homepage did not happen: %s", err)
            return await render_home(request, status=400, pair_error=str(err))
        return RedirectResponse("/?paired=1", status_code=303)

    async def error_page(request: Request) -> Response:
        name = request.path_params.get("name") or errorpages.INDEX
        found = errorpages.pages().get(name)
        if found is None:
            return pages.message(
                request,
                404,
                "Unknown code",
                "The box has no page of that name.",
                back="/box/errors/",
            )
        title, body = found
        return pages.render(request, "errorpage.html", title=title, body=body, name=name)

    return [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/box/", home, methods=["GET", "HEAD"]),
        Route("/status.json", status_json, methods=["GET", "HEAD"]),
        Route("/box/refresh", refresh, methods=["POST"]),
        Route("/box/pair", front.gate.page(pair), methods=["POST"]),
        Route("/box/errors/", error_page, methods=["GET", "HEAD"]),
        Route("/box/errors/{name}", error_page, methods=["GET", "HEAD"]),
        pages.stylesheet_route(),
    ]
