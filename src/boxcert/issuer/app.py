"""The issuer's HTTP boundary: JSON in, JSON out, errors translated here and nowhere else.

- ``POST /iot/x509`` (and ``/odoo-enterprise/iot/x509``): a grant or a refusal, both HTTP 200;
  a malformed request is a 4xx with ``{"error": {"code", "message"}}``; a path with a trailing
  slash is a 404, never a redirect (which would echo the Host header back).
- ``POST /iot/x509/standing``: does a box's certificate still stand (:mod:`boxcert.wire.
  standing`); answered like the exchange (refusal for wrong credentials, HTTP 200).
- ``POST /iot/hub/report``: a hub's signed report (:mod:`boxcert.wire.hubreport`).
- ``GET /iot/info``: the zone and API version, for hubs. ``GET /ca/crl``: the local CA's CRL.
- ``GET /healthz``: the CA backend and zone.

A client that goes away mid-request is logged at INFO; a failure of ours is logged once with
its traceback and answered 500 without dropping the kept-alive connection.
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

from boxcert.issuer.crl import CRL_PATH, CrlPublisher
from boxcert.issuer.duplicates import ReportRefused
from boxcert.issuer.errors import BadRequest, Refusal
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


def create_app(service: IssuerService, *, lifespan_extra: Lifespan | None = None) -> Starlette:
    """The boxes' and hubs' endpoints. ``lifespan_extra`` runs inside the app's lifespan (the
    issuer's background jobs, when served)."""
    crl = CrlPublisher(service.sessions, service.ca, service.events, service.clock)

    async def x509_endpoint(request: Request) -> Response:
        parsed: CertificateRequest | None = None
        try:
            try:
                parsed = CertificateRequest.from_json(await _read_json(request))
            except WireError as err:
                raise BadRequest(str(err)) from err
            grant = await service.handle(parsed)
        except Refusal as refusal:
            # A refusal is an answer: HTTP 200, as existing boxes expect.
            log.info("refused %s: %s", _who(parsed), refusal.code)
            return JSONResponse(RefusalAnswer(refusal.code, refusal.message).to_json())
        except BadRequest as err:
            return _error(400, HttpErrorCode.BAD_REQUEST, str(err))
        except HTTPException as err:
            return _error(err.status_code, HttpErrorCode.for_status(err.status_code), err.detail)
        except ClientDisconnect:
            log.info("a client went away before its request was complete")
            return Response(status_code=400)  # nobody is left to read it
        except Exception:
            log.exception("internal error answering %s", _who(parsed))
            return _error(
                500, HttpErrorCode.INTERNAL_ERROR, "the issuer failed; the error is in its log"
            )
        log.info("granted %s for %s", grant.domain, _who(parsed))
        return JSONResponse(grant.to_json())

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
        return JSONResponse({"status": "ok", "ca": service.ca.name, "zone": service.settings.zone})

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
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan
    )
    app.router.redirect_slashes = False
    return app


def _who(request: CertificateRequest | None) -> str:
    # The uuid is an identifier, not a secret; the contract code is never logged.
    if request is None:
        return "an unreadable request"
    kind = "box" if request.csr_pem else "database"
    return f"{kind} of db {request.db_uuid[:8]}…"
