"""The box's homepage and its public companions: ``/status.json``, Refresh, the help pages
(``/box/errors/…``, ``/box/diagnosis/…``), ``/box/metrics``, ``/box/ping``; and the pairing
form (behind the box login). Nothing public shows a secret.

Opening the homepage asks the backend for a (debounced) check and a (debounced) DNS diagnosis
and renders at once with the last results; the backend calls run in worker threads, so a slow
backend cannot stall the loop. Every POST has passed the CSRF check of
:class:`boxcert.web.Sessions` before it gets here.

The one script: when the homepage is opened by IP over plain HTTP it carries
``/box/static/dnscheck.js``, allowed by a nonce fresh for that answer (and pinned by its
hash), with ``connect-src`` limited to the box's own name — the CSP of every other page
allows no script at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import replace
from functools import cache
from importlib import resources

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from boxcert.box.errors import BoxError
from boxcert.box.front import errorpages
from boxcert.box.front.context import FrontContext
from boxcert.box.front.homepage import BrowserCheck, browser_check, dns_row, home_model
from boxcert.web import visit_of
from boxcert.web.headers import DEFAULT_CSP

log = logging.getLogger(__name__)

SCRIPT_PATH = "/box/static/dnscheck.js"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@cache
def dns_script() -> tuple[bytes, str, str]:
    """(the script, its versioned URL, its SRI/CSP hash)."""
    body = resources.files("boxcert.box.front").joinpath("static/dnscheck.js").read_bytes()
    digest = hashlib.sha256(body).digest()
    url = f"{SCRIPT_PATH}?v={digest.hex()[:12]}"
    return body, url, "sha256-" + base64.b64encode(digest).decode("ascii")


def script_csp(nonce: str, check: BrowserCheck) -> str:
    """The homepage's policy when it carries the script: that script only, talking only to
    the box's own name."""
    return (
        f"{DEFAULT_CSP}; script-src 'nonce-{nonce}' '{dns_script()[2]}'; "
        f"connect-src {' '.join(check.connect_sources)}"
    )


def routes(front: FrontContext) -> list[Route]:
    pages = front.pages

    async def render_home(
        request: Request, *, status: int = 200, pair_error: str = "", started: bool = False
    ) -> Response:
        view = await run_in_threadpool(front.backend.status)
        if started and not view.checking:
            view = replace(view, checking=True)
        dns = await run_in_threadpool(lambda: front.backend.dns(refresh=True))
        model = home_model(view, front.switch.served, scheme=request.url.scheme, now=front.clock())
        check = browser_check(
            view.box.url or "",
            request.headers.get("host", ""),
            scheme=request.url.scheme,
            http_port=request.url.port or 80,
            https_port=front.https_port,
            trusted=front.trusted(),
            zone=dns.zone,
            explained=dns.diagnosis is not None
            and dns.diagnosis.verdict.value == "rebinding_suspected",
        )
        nonce = secrets.token_urlsafe(16) if check is not None else ""
        _body, script_url, script_hash = dns_script()
        response = pages.render(
            request,
            "home.html",
            status=status,
            title="HTTPS status",
            m=model,
            dns=dns_row(dns),
            check=check,
            nonce=nonce,
            script_url=script_url,
            script_hash=script_hash,
            pair_error=pair_error,
            paired="paired" in request.query_params,
        )
        if check is not None:
            response.headers["Content-Security-Policy"] = script_csp(nonce, check)
        return response

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

    async def script(_: Request) -> Response:
        body = dns_script()[0]
        # Versioned URL: the content behind one URL never changes, so it may be cached.
        return Response(
            body,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def ping(_: Request) -> Response:
        return Response(status_code=204)

    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(front.backend.metrics)
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    async def help_page(request: Request, section: str) -> Response:
        name = request.path_params.get("name") or errorpages.INDEX
        if section == errorpages.DIAGNOSIS:
            zone = (await run_in_threadpool(lambda: front.backend.dns(refresh=False))).zone
            found = errorpages.diagnosis_page(name, zone)
        else:
            found = errorpages.pages().get(name)
        if found is None:
            back = errorpages.page_url(errorpages.INDEX, section)
            return pages.message(
                request, 404, "Unknown page", "The box has no page of that name.", back=back
            )
        title, body = found
        return pages.render(
            request, "errorpage.html", title=title, body=body, name=name, section=section
        )

    async def error_page(request: Request) -> Response:
        return await help_page(request, errorpages.ERRORS)

    async def diagnosis_page(request: Request) -> Response:
        return await help_page(request, errorpages.DIAGNOSIS)

    return [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/box/", home, methods=["GET", "HEAD"]),
        Route("/status.json", status_json, methods=["GET", "HEAD"]),
        Route("/box/refresh", refresh, methods=["POST"]),
        Route("/box/pair", front.gate.page(pair), methods=["POST"]),
        Route("/box/errors/", error_page, methods=["GET", "HEAD"]),
        Route("/box/errors/{name}", error_page, methods=["GET", "HEAD"]),
        Route("/box/diagnosis/", diagnosis_page, methods=["GET", "HEAD"]),
        Route("/box/diagnosis/{name}", diagnosis_page, methods=["GET", "HEAD"]),
        Route("/box/metrics", metrics, methods=["GET"]),
        Route("/box/ping", ping, methods=["GET", "HEAD"]),
        Route(SCRIPT_PATH, script, methods=["GET", "HEAD"]),
        pages.stylesheet_route(),
    ]
