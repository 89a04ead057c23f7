"""The issuer's HTTP boundary: JSON in, JSON out, errors translated here and nowhere else.

- ``POST /iot/x509`` (and ``/odoo-enterprise/iot/x509``): a grant or a refusal, both HTTP 200;
  a malformed request is a 4xx with ``{"error": {"code", "message"}}``; a path with a trailing
  slash is a 404, never a redirect (which would echo the Host header back).
- ``POST /iot/x509/standing``: does a box's certificate still stand (:mod:`boxcert.wire.
  standing`); answered like the exchange (refusal for wrong credentials, HTTP 200).
- ``POST /iot/hub/report``: a hub's signed report (:mod:`boxcert.wire.hubreport`).
- ``GET /iot/info``: the zone and API version, for boxes (which learn their zone
  and check their clock against its Date) and hubs. ``GET /ca/crl``: the local CA's CRL.
- ``GET /healthz``: the database and the CA answer (:mod:`.health`): 200, or 503 naming the
  failing part. ``GET /metrics``: Prometheus metrics (:mod:`.metrics`).

A client that goes away mid-request is logged at INFO; a failure of ours is logged once with
its traceback and answered 500 without dropping the kept-alive connection.

``POST /iot/x509`` is the hot path: :func:`create_app` hands it to :class:`X509Endpoint`, a
plain ASGI callable, before Starlette's router and middleware (other methods on that path
still get Starlette's 405). JSON is read and written with orjson (:mod:`.answers`); a grant's
bytes come ready-made from the service's cache. The outcome (``granted`` or
``refused:<code>``) is left in the request's scope for the access log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from boxcert.accesslog import OUTCOME
from boxcert.issuer import answers
from boxcert.issuer.crl import CRL_PATH, CrlPublisher
from boxcert.issuer.duplicates import ReportRefused
from boxcert.issuer.errors import BadRequest, Refusal
from boxcert.issuer.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from boxcert.issuer.service import IssuerService
from boxcert.wire import (
    MAX_BODY_BYTES,
    X509_PATHS,
    CertificateRequest,
    ErrorBody,
    HttpErrorCode,
    RefusalAnswer,
    WireError,
)
from boxcert.wire.hubreport import HUB_REPORT_PATH, HubReport
from boxcert.wire.standing import STANDING_PATH, StandingQuery

log = logging.getLogger(__name__)
API_VERSION = 2
REFRESH_SECONDS = 60
Lifespan = Callable[[], AbstractAsyncContextManager[None]]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code, message).to_json(), status_code=status)


async def _read_json(request: Request) -> object:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the body is not valid JSON ({err})") from err
    except RecursionError as err:
        raise BadRequest("the body is not valid JSON (nested too deeply)") from err


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class X509Endpoint:
    """``POST /iot/x509`` as a plain ASGI app: see the module docstring."""

    def __init__(self, service: IssuerService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await self._answer(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        parsed: CertificateRequest | None = None
        try:
            raw = await _body(scope, receive)
            try:
                value = answers.read(raw)
            except ValueError as err:
                raise BadRequest(f"the body is not valid JSON ({err})") from err
            try:
                parsed = CertificateRequest.from_json(value)
            except WireError as err:
                raise BadRequest(str(err)) from err
            body = await self.service.answer(parsed)
        except Refusal as refusal:
            # A refusal is an answer: HTTP 200, as existing boxes expect.
            scope[OUTCOME] = f"refused:{refusal.code.value}"
            return 200, answers.encode(RefusalAnswer(refusal.code, refusal.message).to_json())
        except BadRequest as err:
            return 400, _error_bytes(HttpErrorCode.BAD_REQUEST, str(err))
        except _TooLarge:
            message = f"the body is larger than {MAX_BODY_BYTES} bytes"
            return 413, _error_bytes(HttpErrorCode.for_status(413), message)
        except _Gone:
            log.info("a client went away before its request was complete")
            return 400, b""  # nobody is left to read it
        except Exception:
            log.exception("internal error answering %s", _who(parsed))
            message = "the issuer failed; the error is in its log"
            return 500, _error_bytes(HttpErrorCode.INTERNAL_ERROR, message)
        scope[OUTCOME] = "granted"
        return 200, body


async def _body(scope: Scope, receive: Receive) -> bytes:
    """The request's body, at most MAX_BODY_BYTES; raises _TooLarge or _Gone."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error_bytes(code: str, message: str) -> bytes:
    return answers.encode(ErrorBody(code, message).to_json())


def create_app(service: IssuerService, *, lifespan_extra: Lifespan | None = None) -> ASGIApp:
    """The boxes' and hubs' endpoints. ``lifespan_extra`` runs inside the app's lifespan (the
    issuer's background jobs, when served)."""
    crl = CrlPublisher(
        service.sessions, service.ca, service.events, service.clock, service.memory.feed_epoch
    )
    x509_endpoint = X509Endpoint(service)

    async def standing_endpoint(request: Request) -> Response:
        try:
            try:
                query = StandingQuery.from_json(await _read_json(request))
            except WireError as err:
                raise BadRequest(str(err)) from err
            answer = await service.standing(query)
        except Refusal as refusal:
            return JSONResponse(RefusalAnswer(refusal.code, refusal.message).to_json())
        except BadRequest as err:
            return _error(400, HttpErrorCode.BAD_REQUEST, str(err))
        except HTTPException as err:
            return _error(err.status_code, HttpErrorCode.for_status(err.status_code), err.detail)
        except ClientDisconnect:
            return Response(status_code=400)
        return JSONResponse(answer.to_json())

    async def hub_report_endpoint(request: Request) -> Response:
        report: HubReport | None = None
        try:
            try:
                report = HubReport.from_json(await _read_json(request))
            except WireError as err:
                raise BadRequest(str(err)) from err
            answer = await service.hub_reports.report(report)
        except ReportRefused as refused:
            log.info(
                "hub report for db %s… refused: %s", report.db_uuid[:8] if report else "?", refused
            )
            return _error(refused.status, HttpErrorCode.for_status(refused.status), str(refused))
        except BadRequest as err:
            return _error(400, HttpErrorCode.BAD_REQUEST, str(err))
        except HTTPException as err:
            return _error(err.status_code, HttpErrorCode.for_status(err.status_code), err.detail)
        except ClientDisconnect:
            return Response(status_code=400)
        return JSONResponse(answer.to_json())

    async def info(_: Request) -> Response:
        return JSONResponse({"zone": service.settings.zone, "api_version": API_VERSION})

    async def crl_endpoint(_: Request) -> Response:
        der = await crl.current()
        if der is None:
            return _error(404, HttpErrorCode.NOT_FOUND, "this issuer's CA publishes no CRL here")
        return Response(
            der,
            media_type="application/pkix-crl",
            headers={"Cache-Control": f"public, max-age={int(REFRESH_SECONDS)}"},
        )

    async def health(_: Request) -> Response:
        report = await service.health.report()
        answer: dict[str, object] = {
            "status": "failing" if report.failing else "ok",
            "ca": service.ca.name,
            "zone": service.settings.zone,
            "checks": report.checks,
        }
        if report.failing:
            answer["failing"] = report.failing
        return JSONResponse(
            answer,
            status_code=503 if report.failing else 200,
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(_: Request) -> Response:
        return Response(await service.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, HttpErrorCode.for_status(exc.status_code), exc.detail)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            if lifespan_extra is None:
                yield
            else:
                async with lifespan_extra():
                    yield
        finally:
            await service.ca.close()

    routes = [Route(path, x509_endpoint, methods=["POST"]) for path in X509_PATHS]
    routes.append(Route(STANDING_PATH, standing_endpoint, methods=["POST"]))
    routes.append(Route(HUB_REPORT_PATH, hub_report_endpoint, methods=["POST"]))
    routes.append(Route("/iot/info", info, methods=["GET"]))
    routes.append(Route(CRL_PATH, crl_endpoint, methods=["GET"]))
    routes.append(Route("/healthz", health, methods=["GET"]))
    routes.append(Route("/metrics", metrics, methods=["GET"]))
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan
    )
    app.router.redirect_slashes = False

    async def machine(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in X509_PATHS:
            await x509_endpoint(scope, receive, send)  # the hot path skips the router
            return
        await app(scope, receive, send)

    return machine


def _who(request: CertificateRequest | None) -> str:
    # The uuid is an identifier, not a secret; the contract code is never logged.
    if request is None:
        return "an unreadable request"
    kind = "box" if request.csr_pem else "database"
    return f"{kind} of db {request.db_uuid[:8]}…"
