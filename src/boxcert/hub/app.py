"""The hub's HTTP boundary: the boxes' JSON endpoints, the admin's pages and JSON API.

Boxes (no cookies, no CSRF: they authenticate with a token or their own secret), see
:mod:`boxcert.wire.hub`: ``POST /iot/box/connect``, ``POST /iot/box/report``,
``POST /iot/box/update_certificate_status``.

Behind the admin login (:mod:`boxcert.web`): ``GET /boxes`` (the IoT page), ``GET
/boxes/<identifier>``, ``POST /tokens`` (a new pairing token, shown once), ``POST /forget``;
the same data as JSON at ``GET /api/boxes`` and ``GET /api/boxes/<identifier>``.
Anyone: ``GET /login``, ``GET /healthz`` (the database answers, 200, or 503 naming the failing
part; and whether the hub is configured, nothing more: :mod:`.health`), ``GET /metrics``
(Prometheus metrics, :mod:`.metrics`; no secret and no identifier in them, like the issuer's).

Every request is timed into the metrics and, when ``access_log`` is given, logged in one line
without secrets (:mod:`boxcert.accesslog`); the boxes' endpoints leave their outcome in the
scope (``paired``, ``refused:<code>``, ``accepted`` …) for the line's end.

Hub errors become answers here and nowhere else: JSON (``wire.errors`` shape) for box and API
paths, pages for the rest. Unexpected errors are logged and answered 500 without details.
"""

from __future__ import annotations

import json
import logging

from jinja2 import PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from boxcert.accesslog import OUTCOME, AccessLog, AccessLogWriter
from boxcert.clock import Clock, system_clock
from boxcert.hub import health as hub_health
from boxcert.hub.errors import BoxRefused, HubError, PairingRefused, UnknownBox
from boxcert.hub.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from boxcert.hub.metrics import HubMetrics, is_known_path
from boxcert.hub.service import HubService
from boxcert.hub.view import format_ago, format_when
from boxcert.web import (
    LoginGate,
    LoginThrottle,
    MemorySessionStore,
    Pages,
    SecurityHeaders,
    Sessions,
    visit_of,
)
from boxcert.wire.errors import ErrorBody, HttpErrorCode
from boxcert.wire.hub import (
    BOX_PATHS,
    CONNECT_PATH,
    LEGACY_REPORT_PATH,
    MAX_BODY_BYTES,
    REPORT_PATH,
    BoxReport,
    BoxSecret,
    ConnectRequest,
    LegacyReport,
    MalformedToken,
    PairingRefusal,
    legacy_answer,
)
from boxcert.wire.x509 import WireError

log = logging.getLogger(__name__)
SITE = "boxcert hub"
_JSON_PATHS = (BOX_PATHS, "/api/", "/healthz")
_HTTP_TEXTS = {
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not allowed here", "This address does not take that kind of request."),
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code, message).to_json(), status_code=status)


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_json(request: Request) -> object:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadBody(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadBody(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as err:
        raise BadBody(400, "the body is not valid JSON") from err


def _bad(err: Exception) -> JSONResponse:
    """The answer to a body that is too large, not JSON, or not the expected shape."""
    status = err.status if isinstance(err, BadBody) else 400
    return _error(status, HttpErrorCode.for_status(status), str(err))


_REFUSED = {401: "unauthorized", 403: "forbidden"}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(
    service: HubService,
    *,
    clock: Clock = system_clock,
    throttle: LoginThrottle | None = None,
    metrics: HubMetrics | None = None,
    access_log: AccessLogWriter | None = None,
) -> ASGIApp:
    metrics = metrics or HubMetrics(service.sessions, clock=clock)
    pages = Pages(
        SITE,
        PackageLoader("boxcert.hub", "templates"),
        nav=[("/boxes", "IoT boxes")],
        globals={"when": format_when, "ago": lambda dt: format_ago(dt, clock())},
    )
    gate = LoginGate(service, pages, throttle=throttle or LoginThrottle(clock=clock), clock=clock)

    # --- the boxes' endpoints ----------------------------------------------------------

    def outcome(request: Request, text: str) -> None:
        request.scope[OUTCOME] = text

    async def connect(request: Request) -> Response:
        try:
            parsed = ConnectRequest.from_json(await _read_json(request))
        except MalformedToken as err:
            metrics.paired(PairingRefusal.MALFORMED.value)
            outcome(request, f"refused:{PairingRefusal.MALFORMED.value}")
            return _error(400, PairingRefusal.MALFORMED, str(err))
        except (WireError, BadBody) as err:
            metrics.paired("bad_request")
            outcome(request, "refused:bad_request")
            return _bad(err)
        try:
            answer = await run_in_threadpool(service.connect, parsed, _client(request))
        except PairingRefused as refused:
            code = refused.refusal
            metrics.paired(code.value)
            outcome(request, f"refused:{code.value}")
            return _error(code.status, code, code.message)
        metrics.paired("paired")
        outcome(request, "paired")
        return JSONResponse(answer.to_json())

    def reported(request: Request, kind: str, result: str) -> None:
        metrics.reported(kind, result)
        outcome(request, result if result == "accepted" else f"refused:{result}")

    async def report(request: Request) -> Response:
        try:
            secret = BoxSecret.from_authorization(request.headers.get("authorization"))
        except WireError as err:
            reported(request, "box", "unauthorized")
            return _error(401, HttpErrorCode.UNAUTHORIZED, str(err))
        try:
            parsed = BoxReport.from_json(await _read_json(request))
        except (WireError, BadBody) as err:
            reported(request, "box", "bad_request")
            return _bad(err)
        try:
            await run_in_threadpool(service.report, secret, parsed)
        except BoxRefused as refused:
            status = refused.status
            reported(request, "box", _REFUSED.get(status, "refused"))
            return _error(status, HttpErrorCode.for_status(status), str(refused))
        reported(request, "box", "accepted")
        return JSONResponse({"result": {"accepted": True}})

    async def legacy_report(request: Request) -> Response:
        try:
            body = await _read_json(request)
            parsed = LegacyReport.from_json(body)
        except (WireError, BadBody) as err:
            reported(request, "legacy", "bad_request")
            return _bad(err)
        try:
            await run_in_threadpool(service.legacy_report, parsed)
        except UnknownBox as err:
            reported(request, "legacy", "unknown_box")
            return _error(404, HttpErrorCode.NOT_FOUND, str(err))
        except BoxRefused as refused:
            reported(request, "legacy", _REFUSED.get(refused.status, "refused"))
            return _error(refused.status, HttpErrorCode.for_status(refused.status), str(refused))
        reported(request, "legacy", "accepted")
        return JSONResponse(legacy_answer(body))

    # --- pages -----------------------------------------------------------------------------

    async def home(_: Request) -> Response:
        return RedirectResponse("/boxes", status_code=303)

    async def boxes_page(request: Request) -> Response:
        boxes = await run_in_threadpool(service.boxes)
        configured = await run_in_threadpool(service.config) is not None
        return pages.render(
            request, "boxes.html", title="IoT boxes", boxes=boxes, configured=configured
        )

    async def box_page(request: Request) -> Response:
        identifier = request.path_params["identifier"]
        try:
            box = await run_in_threadpool(service.box, identifier)
        except UnknownBox as err:
            return pages.message(request, 404, "No such box", str(err), back="/boxes")
        return pages.render(request, "box.html", title=box.name or box.identifier, box=box)

    async def new_token(request: Request) -> Response:
        try:
            token = await run_in_threadpool(service.new_token)
        except HubError as err:
            return pages.message(request, 409, "No token made", str(err), back="/boxes")
        return pages.render(request, "token.html", title="Pairing token", token=token.encode())

    async def forget(request: Request) -> Response:
        visit = visit_of(request)
        identifier = visit.form.get("identifier", "") if visit else ""
        try:
            await run_in_threadpool(service.forget, identifier)
        except UnknownBox as err:
            return pages.message(request, 404, "No such box", str(err), back="/boxes")
        return RedirectResponse("/boxes", status_code=303)

    # --- the admin's JSON API ----------------------------------------------------------------

    async def api_boxes(_: Request) -> Response:
        boxes = await run_in_threadpool(service.boxes)
        return JSONResponse({"boxes": [box.to_json() for box in boxes]})

    async def api_box(request: Request) -> Response:
        try:
            box = await run_in_threadpool(service.box, request.path_params["identifier"])
        except UnknownBox as err:
            return _error(404, HttpErrorCode.NOT_FOUND, str(err))
        return JSONResponse(box.to_json())

    async def health(_: Request) -> Response:
        report = await hub_health.report(service.sessions)
        answer: dict[str, object] = {"status": "failing" if report.failing else "ok"}
        if report.failing:
            answer["failing"] = report.failing
        else:
            answer["configured"] = await run_in_threadpool(service.config) is not None
        answer["checks"] = report.checks
        return JSONResponse(
            answer,
            status_code=503 if report.failing else 200,
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_endpoint(_: Request) -> Response:
        return Response(await metrics.render(), media_type=METRICS_CONTENT_TYPE)

    # --- errors ---------------------------------------------------------------------------

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith(_JSON_PATHS)

    async def bad_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadBody)
        return _error(exc.status, HttpErrorCode.for_status(exc.status), str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        text = _HTTP_TEXTS.get(status, ("Error", "The hub cannot answer this request."))
        if wants_json(request):
            return _error(status, HttpErrorCode.for_status(status), text[1])
        return pages.message(request, status, text[0], text[1], back="/boxes")

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s", request.url.path, exc_info=exc)
        text = "the hub failed; the error is in its log"
        if wants_json(request):
            return _error(500, HttpErrorCode.INTERNAL_ERROR, text)
        return pages.message(request, 500, "Hub error", text.capitalize() + ".")

    page = gate.page
    routes = [
        Route(CONNECT_PATH, connect, methods=["POST"]),
        Route(REPORT_PATH, report, methods=["POST"]),
        Route(LEGACY_REPORT_PATH, legacy_report, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        pages.stylesheet_route(),
        *gate.routes(),
        Route("/", home, methods=["GET"]),
        Route("/boxes", page(boxes_page), methods=["GET"]),
        Route("/boxes/{identifier:path}", page(box_page), methods=["GET"]),
        Route("/tokens", page(new_token), methods=["POST"]),
        Route("/forget", page(forget), methods=["POST"]),
        Route("/api/boxes", gate.api(api_boxes), methods=["GET"]),
        Route("/api/boxes/{identifier:path}", gate.api(api_box), methods=["GET"]),
    ]
    app: ASGIApp = Starlette(
        routes=routes,
        exception_handlers={
            BadBody: bad_body,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app = Sessions(
        app,
        store=MemorySessionStore(),
        stamp_of=service.stamp,
        clock=clock,
        exempt=(BOX_PATHS, "/healthz", "/metrics", "/static/"),
        refuse=pages.refusal,
    )
    # Everything but the stylesheet may carry private data (the box list, a pairing token,
    # the contract code at pairing): no cache keeps any of it.
    app = SecurityHeaders(app, no_store=lambda path: not path.startswith("/static/"))
    return AccessLog(app, metrics.observe, access_log, known=is_known_path)
