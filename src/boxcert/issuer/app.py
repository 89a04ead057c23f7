"""The issuer's HTTP boundary: JSON in, JSON out, errors translated here and nowhere else."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code, message).to_json(), status_code=status)


async def _read_json(request: Request) -> object:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
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


def create_app(service: IssuerService) -> Starlette:
    async def x509_endpoint(request: Request) -> Response:
        try:
            parsed = CertificateRequest.from_json(await _read_json(request))
        except WireError as err:
            raise BadRequest(str(err)) from err
        try:
            grant = await service.handle(parsed)
        except Refusal as refusal:
            # A refusal is an answer: HTTP 200, as existing boxes expect.
            log.info("refused %s: %s", _who(parsed), refusal.code)
            return JSONResponse(RefusalAnswer(refusal.code, refusal.message).to_json())
        log.info("granted %s for %s", grant.domain, _who(parsed))
        return JSONResponse(grant.to_json())

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "ca": service.ca.name, "zone": service.settings.zone})

    async def bad_request(_: Request, exc: Exception) -> Response:
        return _error(400, HttpErrorCode.BAD_REQUEST, str(exc))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, HttpErrorCode.for_status(exc.status_code), exc.detail)

    async def internal_error(_: Request, exc: Exception) -> Response:
        log.error("internal error", exc_info=exc)
        return _error(
            500, HttpErrorCode.INTERNAL_ERROR, "the issuer failed; the error is in its log"
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await service.ca.close()

    routes = [Route(path, x509_endpoint, methods=["POST"]) for path in X509_PATHS]
    routes.append(Route("/healthz", health, methods=["GET"]))
    return Starlette(
        routes=routes,
        exception_handlers={
            BadRequest: bad_request,
            HTTPException: http_error,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )


def _who(request: CertificateRequest) -> str:
    # The uuid is an identifier, not a secret; the contract code is never logged.
    kind = "box" if request.csr_pem else "database"
    return f"{kind} of db {request.db_uuid[:8]}…"
