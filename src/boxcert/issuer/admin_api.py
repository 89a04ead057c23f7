"""The admin API for the vendor's billing system (``/api/v1/…``, described at ``/openapi.json``).

Every request first presents a token (:mod:`.tokens`); without a valid one the answer is 401
and nothing else runs — no body is read, no path is looked up. Bodies and queries are then
validated by the pydantic models of :mod:`.admin_schema` (the same models the OpenAPI
document is generated from); a mismatch is a 400 naming the field. Each change runs in one
transaction and is announced as :class:`~.events.AdminChanged` (so it is in the audit log,
with the token's name as the actor); removals (:mod:`.removal`) write their entry in their own
transaction. Contract codes are accepted, never returned. The boxes and certificates listings
come a page at a time: each answer's ``next`` (:mod:`.paging`) is the ``after`` of the next.

Why pydantic on Starlette rather than FastAPI: the box's hot path stays a plain Starlette app,
errors keep our one JSON shape (:mod:`boxcert.wire.errors`) and authentication comes strictly
before parsing; pydantic alone gives the validation and the schema.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cryptography import x509
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import boxcert
from boxcert import naming
from boxcert.issuer import admin_schema as schema
from boxcert.issuer import paging, tokens, views
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import (
    AlreadyExists,
    CertificateAuthorityError,
    InUse,
    InvalidValue,
    LockTimeout,
    NotFound,
)
from boxcert.issuer.events import AdminChanged
from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.removal import DatabaseRemoval, Remover
from boxcert.issuer.service import IssuerService
from boxcert.issuer.store import accounts, audit, certificates, removals
from boxcert.issuer.store.rows import StoredCertificate
from boxcert.wire import ErrorBody, HttpErrorCode, canonical_uuid
from boxcert.wire.standing import normalize_serial
from boxcert.wire.x509 import WireError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request, str], Awaitable[Response]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    body = ErrorBody(HttpErrorCode.for_status(status), message)
    return JSONResponse(body.to_json(), status_code=status)


def _explain(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


async def _body(request: Request, model: type[M]) -> M:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise _Refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return model.model_validate_json(bytes(data) or b"{}")
    except ValidationError as err:
        raise _Refused(400, _explain(err)) from err


def _query(request: Request, model: type[M]) -> M:
    raw: dict[str, Any] = {}
    for key, value in request.query_params.items():
        raw[key] = value
    try:
        return model.model_validate(raw, strict=False)
    except ValidationError as err:
        raise _Refused(400, _explain(err)) from err


P = TypeVar("P")


def _position(decode: Callable[[str], P], cursor: str | None) -> P | None:
    """The position an ``after`` cursor names (None: the first page); a bad one is a 400."""
    if cursor is None:
        return None
    try:
        return decode(cursor)
    except paging.BadCursor as err:
        raise _Refused(400, f"after: {err}") from err


def _certificate_json(c: StoredCertificate) -> dict[str, Any]:
    return schema.CertificateOut(
        id=c.id,
        serial=c.serial_hex,
        database=c.db_uuid,
        holder=c.holder_label,
        names=list(c.names),
        ca=c.ca_name,
        not_before=c.not_before,
        not_after=c.not_after,
        issued_at=c.issued_at,
        revoked_at=c.revoked_at,
        revocation_reason=c.revocation_reason,
        revocation_code=c.revocation_code,
    ).model_dump(mode="json")


def _removed_json(done: DatabaseRemoval) -> dict[str, Any]:
    gone = done.removed
    return schema.DatabaseRemoved(
        uuid=gone.uuid,
        subscription_id=gone.subscription_id,
        boxes=gone.boxes,
        installations=gone.installations,
        revoked=list(done.revoked),
    ).model_dump(mode="json")


def _box_json(listed: removals.BoxListing) -> dict[str, Any]:
    box, cert = listed.box, listed.certificate
    return schema.BoxOut(
        label=box.label,
        database=box.db_uuid,
        identifier=box.identifier,
        first_seen=box.first_seen,
        last_seen=box.last_seen,
        serial=cert.serial_hex if cert else None,
        valid_until=cert.not_after if cert else None,
    ).model_dump(mode="json")


def create_admin_api(service: IssuerService) -> Starlette:
    grace = service.settings.revoke_grace
    clock = service.clock
    document = schema.openapi_document(boxcert.__version__)

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            header = request.headers.get("authorization")
            token = await run_in_session(
                service.sessions, lambda s: tokens.authenticate(s, header, clock)
            )
            if token is None:
                return _error(401, "a valid admin API token is required (Bearer bxa1.…)")
            try:
                return await handler(request, f"admin-api:{token.name}")
            except _Refused as refused:
                return _error(refused.status, str(refused))
            except NotFound as err:
                return _error(404, str(err))
            except (AlreadyExists, InUse) as err:
                return _error(409, str(err))
            except (CertificateAuthorityError, LockTimeout) as err:
                return _error(503, f"the CA could not revoke now, nothing was removed: {err}")
            except (InvalidValue, WireError) as err:
                return _error(400, str(err))
            except ClientDisconnect:
                return Response(status_code=400)
            except Exception:
                log.exception("internal error on %s", request.url.path)
                return _error(500, "the issuer failed; the error is in its log")

        return endpoint

    def announce(actor: str, what: str, *, db: str | None = None, sub: int | None = None) -> None:
        service.events.publish(AdminChanged(clock(), actor, what, db, sub))

    def subscription_json(session: Session, sub_id: int) -> dict[str, Any]:
        found = views.subscription_views(session, grace, [sub_id])
        if not found:
            raise NotFound(f"no subscription #{sub_id}")
        view = found[0].to_json()
        view["databases"] = [d.uuid for d in found[0].databases]
        return view

    # --- subscriptions -------------------------------------------------------------------

    async def list_subscriptions(request: Request, actor: str) -> Response:
        def run(session: Session) -> list[dict[str, Any]]:
            out = []
            for view in views.subscription_views(session, grace):
                item = view.to_json()
                item["databases"] = [d.uuid for d in view.databases]
                out.append(item)
            return out

        return JSONResponse({"subscriptions": await run_in_session(service.sessions, run)})

    async def create_subscription(request: Request, actor: str) -> Response:
        body = await _body(request, schema.SubscriptionCreate)

        def run(session: Session) -> dict[str, Any]:
            row = accounts.add_subscription(
                session, service.codes, body.code, body.state, list(body.lines), clock()
            )
            return subscription_json(session, row.id)

        made = await run_in_session(service.sessions, run)
        announce(
            actor,
            f"created subscription #{made['id']} ({made['state']}, lines: "
            f"{', '.join(made['lines']) or 'none'})",
            sub=made["id"],
        )
        return JSONResponse(made, status_code=201)

    async def read_subscription(request: Request, actor: str) -> Response:
        sub_id = _sub_id(request)
        return JSONResponse(
            await run_in_session(service.sessions, lambda s: subscription_json(s, sub_id))
        )

    async def update_subscription(request: Request, actor: str) -> Response:
        sub_id = _sub_id(request)
        body = await _body(request, schema.SubscriptionUpdate)

        def run(session: Session) -> dict[str, Any]:
            accounts.get_subscription(session, sub_id)  # NotFound first
            if body.state is not None:
                accounts.set_subscription_state(session, sub_id, SubscriptionState(body.state))
            if body.lines is not None:
                accounts.set_subscription_lines(session, sub_id, list(body.lines))
            return subscription_json(session, sub_id)

        after = await run_in_session(service.sessions, run)
        changes = []
        if body.state is not None:
            changes.append(f"state {body.state.value}")
        if body.lines is not None:
            changes.append(f"lines: {', '.join(body.lines) or 'none'}")
        if changes:
            announce(actor, f"subscription #{sub_id}: " + "; ".join(changes), sub=sub_id)
        return JSONResponse(after)

    # --- databases -----------------------------------------------------------------------

    async def list_databases(request: Request, actor: str) -> Response:
        found = await run_in_session(service.sessions, lambda s: views.database_views(s, grace))
        return JSONResponse({"databases": [d.to_json() for d in found]})

    async def create_database(request: Request, actor: str) -> Response:
        body = await _body(request, schema.DatabaseCreate)

        def run(session: Session) -> dict[str, Any]:
            row = accounts.add_database(
                session, body.uuid, DatabaseKind(body.kind), body.subscription_id, clock()
            )
            return views.database_view(session, row.uuid, grace).to_json()

        made = await run_in_session(service.sessions, run)
        announce(
            actor,
            f"registered database {made['uuid']} ({made['kind']}) under subscription "
            f"#{made['subscription_id']}",
            db=str(made["uuid"]),
            sub=body.subscription_id,
        )
        return JSONResponse(made, status_code=201)

    async def read_database(request: Request, actor: str) -> Response:
        uuid = canonical_uuid(request.path_params["uuid"])
        view = await run_in_session(service.sessions, lambda s: views.database_view(s, uuid, grace))
        return JSONResponse(view.to_json())

    async def update_database(request: Request, actor: str) -> Response:
        uuid = canonical_uuid(request.path_params["uuid"])
        body = await _body(request, schema.DatabaseUpdate)

        def run(session: Session) -> dict[str, Any]:
            accounts.get_database(session, uuid)  # NotFound first
            if body.kind is not None:
                accounts.set_database_kind(session, uuid, DatabaseKind(body.kind))
            if body.subscription_id is not None:
                accounts.set_database_subscription(session, uuid, body.subscription_id)
            if "max_boxes" in body.model_fields_set:
                accounts.set_database_max_boxes(session, uuid, body.max_boxes)
            return views.database_view(session, uuid, grace).to_json()

        after = await run_in_session(service.sessions, run)
        changes = []
        if body.kind is not None:
            changes.append(f"kind {body.kind.value}")
        if body.subscription_id is not None:
            changes.append(f"subscription #{body.subscription_id}")
        if "max_boxes" in body.model_fields_set:
            cap = body.max_boxes
            changes.append(f"box cap {cap if cap is not None else 'of the issuer'}")
        if changes:
            announce(
                actor,
                f"database {uuid}: " + "; ".join(changes),
                db=uuid,
                sub=body.subscription_id,
            )
        return JSONResponse(after)

    # --- removals and boxes (boxcert.issuer.removal; audited in their transactions) -----------

    def remover(actor: str) -> Remover:
        return Remover(service.sessions, clock, service.revoker, actor=actor)

    async def remove_database(request: Request, actor: str) -> Response:
        uuid = canonical_uuid(request.path_params["uuid"])
        query = _query(request, schema.DatabaseRemoveQuery)
        done = await remover(actor).remove_database(uuid, revoke=query.revoke)
        return JSONResponse(_removed_json(done))

    async def remove_subscription(request: Request, actor: str) -> Response:
        sub_id = _sub_id(request)
        query = _query(request, schema.SubscriptionRemoveQuery)
        done = await remover(actor).remove_subscription(
            sub_id, with_databases=query.with_databases, revoke=query.revoke
        )
        gone = done.removed
        return JSONResponse(
            schema.SubscriptionRemoved(
                id=gone.id,
                lines=gone.lines,
                accounts=gone.accounts,
                databases=[schema.DatabaseRemoved(**_removed_json(d)) for d in done.databases],
            ).model_dump(mode="json")
        )

    async def list_boxes(request: Request, actor: str) -> Response:
        query = _query(request, schema.BoxQuery)
        db = canonical_uuid(query.database) if query.database else None
        after = _position(paging.box_position, query.after)

        def run(session: Session) -> list[removals.BoxListing]:
            if db is not None:
                accounts.get_database(session, db)  # NotFound
            # One more than asked: whether there is a next page.
            return removals.list_boxes(session, db, clock(), limit=query.limit + 1, after=after)

        found = await run_in_session(service.sessions, run)
        page = found[: query.limit]
        more = len(found) > query.limit
        return JSONResponse(
            {
                "boxes": [_box_json(b) for b in page],
                "next": paging.box_cursor(removals.key_of(page[-1].box)) if more else None,
            }
        )

    async def forget_box(request: Request, actor: str) -> Response:
        label = request.path_params["label"]
        if not naming.is_label(label):
            raise _Refused(400, "a box label is 16 characters a-z and 2-7 (see /api/v1/boxes)")
        query = _query(request, schema.BoxForgetQuery)
        done = await remover(actor).forget_box(label, keep_certificate=query.keep_certificate)
        return JSONResponse(
            schema.BoxForgotten(
                label=done.forgotten.box.label,
                database=done.forgotten.box.db_uuid,
                revoked=list(done.revoked),
                kept=[c.serial_hex for c in done.forgotten.kept],
            ).model_dump(mode="json")
        )

    # --- certificates and the audit log ------------------------------------------------------

    async def list_certificates(request: Request, actor: str) -> Response:
        query = _query(request, schema.CertificateQuery)
        db = canonical_uuid(query.database) if query.database else None
        before = _position(paging.certificate_position, query.after)
        found = await run_in_session(
            service.sessions,
            lambda s: certificates.listing(
                s, db_uuid=db, revoked=query.revoked, limit=query.limit + 1, before_id=before
            ),
        )
        page = found[: query.limit]
        more = len(found) > query.limit
        return JSONResponse(
            {
                "certificates": [_certificate_json(c) for c in page],
                "next": paging.certificate_cursor(page[-1].id) if more else None,
            }
        )

    async def revoke(request: Request, actor: str) -> Response:
        serial = normalize_serial(request.path_params["serial"])
        body = await _body(request, schema.RevokeRequest)
        try:
            after = await service.revoker.revoke_serial(
                serial, x509.ReasonFlags(body.reason.value), actor=actor
            )
        except (CertificateAuthorityError, LockTimeout) as err:
            return _error(503, f"the CA could not revoke it now: {err}")
        return JSONResponse(_certificate_json(after))

    async def read_audit(request: Request, actor: str) -> Response:
        query = _query(request, schema.AuditQuery)
        db = [canonical_uuid(query.database)] if query.database else None
        found = await run_in_session(
            service.sessions,
            lambda s: audit.entries(s, db_uuids=db, since=query.since, limit=query.limit),
        )
        return JSONResponse({"entries": [e.to_json() for e in found]})

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    p = schema.API_PREFIX
    routes = [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route(f"{p}/subscriptions", guarded(list_subscriptions), methods=["GET"]),
        Route(f"{p}/subscriptions", guarded(create_subscription), methods=["POST"]),
        Route(f"{p}/subscriptions/{{id}}", guarded(read_subscription), methods=["GET"]),
        Route(f"{p}/subscriptions/{{id}}", guarded(update_subscription), methods=["PATCH"]),
        Route(f"{p}/subscriptions/{{id}}", guarded(remove_subscription), methods=["DELETE"]),
        Route(f"{p}/databases", guarded(list_databases), methods=["GET"]),
        Route(f"{p}/databases", guarded(create_database), methods=["POST"]),
        Route(f"{p}/databases/{{uuid}}", guarded(read_database), methods=["GET"]),
        Route(f"{p}/databases/{{uuid}}", guarded(update_database), methods=["PATCH"]),
        Route(f"{p}/databases/{{uuid}}", guarded(remove_database), methods=["DELETE"]),
        Route(f"{p}/boxes", guarded(list_boxes), methods=["GET"]),
        Route(f"{p}/boxes/{{label}}", guarded(forget_box), methods=["DELETE"]),
        Route(f"{p}/certificates", guarded(list_certificates), methods=["GET"]),
        Route(f"{p}/certificates/{{serial}}/revoke", guarded(revoke), methods=["POST"]),
        Route(f"{p}/audit", guarded(read_audit), methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return app


def _sub_id(request: Request) -> int:
    text = request.path_params["id"]
    if not text.isdigit() or len(text) > 12:
        raise _Refused(400, "a subscription id is a positive integer")
    return int(text)
