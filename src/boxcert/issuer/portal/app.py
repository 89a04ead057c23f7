"""The customer portal on the issuer: ``/my/…`` pages behind a login, and the same data as JSON.

Pages (server-rendered, no script; :mod:`boxcert.web` for sessions, CSRF, the login throttle,
headers and the base template):

- ``GET /my/subscriptions[?state=…]`` — the account's subscriptions, In Progress by default;
- ``GET /my/databases/<uuid>[?retired=<label>]`` — one database, its boxes and their
  certificates (and a notice when the box ``label`` was just retired);
- ``GET``/``POST /my/databases/<uuid>/boxes/<label>/retire`` — retiring a box (:mod:`.retire`);
- ``GET /my/audit[?database=…]`` — what happened to them;
- ``GET /login``, ``POST /login``, ``POST /logout``; ``GET /`` goes to the subscriptions.

JSON, same data: ``GET /my/api/subscriptions[?state=…]``, ``GET /my/api/databases/<uuid>``,
``GET /my/api/audit[?database=…]`` (401 when not logged in).

Sessions live in the issuer's database (:class:`~.accounts.SqlSessionStore`) and the CSRF key
is the installation's, so any issuer of a cluster serves any visitor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from jinja2 import PackageLoader
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from boxcert.clock import Clock
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import NotFound
from boxcert.issuer.portal import pages as data
from boxcert.issuer.portal.accounts import PortalAccounts, SqlSessionStore
from boxcert.issuer.portal.retire import Retiring
from boxcert.issuer.service import IssuerService
from boxcert.web import LoginGate, LoginThrottle, Pages, SecurityHeaders, Sessions, visit_of
from boxcert.wire import ErrorBody, HttpErrorCode, canonical_uuid

log = logging.getLogger(__name__)
SITE = "boxcert portal"
PREFIXES = ("/my/", "/login", "/logout", "/static/")
T = TypeVar("T")


def create_portal(
    service: IssuerService,
    *,
    clock: Clock,
    csrf_key: bytes,
    throttle: LoginThrottle | None = None,
) -> ASGIApp:
    grace = service.settings.revoke_grace
    cap = service.settings.max_boxes_per_database
    accounts = PortalAccounts(service.sessions, service.events, clock)
    pages = Pages(
        SITE,
        PackageLoader("boxcert.issuer.portal", "templates"),
        nav=[("/my/subscriptions", "Subscriptions"), ("/my/audit", "Activity")],
        globals={"when": data.when, "state_labels": data.STATE_LABELS},
    )
    gate = LoginGate(
        accounts,
        pages,
        throttle=throttle or LoginThrottle(clock=clock),
        home="/my/subscriptions",
        ask_username=True,
        clock=clock,
    )

    async def sub_ids(request: Request) -> list[int]:
        """The subscriptions the visitor's account may see (read off the event loop)."""
        return (await who(request))[0]

    async def who(request: Request) -> tuple[list[int], str | None]:
        visit = visit_of(request)
        account = await run_in_threadpool(accounts.account, visit.account_id if visit else None)
        if account is None:
            return [], None
        return list(account.subscription_ids), account.email

    async def read(fn: Callable[[Session], T]) -> T:
        return await run_in_session(service.sessions, fn)

    # --- pages ---------------------------------------------------------------------------

    async def home(_: Request) -> Response:
        return RedirectResponse("/my/subscriptions", status_code=303)

    async def subscriptions_page(request: Request) -> Response:
        state = data.state_filter(request.query_params.get("state"))
        ids = await sub_ids(request)
        found = await read(lambda s: data.overview(s, ids, state, grace))
        return pages.render(request, "subscriptions.html", title="Subscriptions", view=found)

    async def database_html(request: Request) -> Response:
        uuid = canonical_uuid(request.path_params["uuid"])
        ids, own = await sub_ids(request), service.database_label(uuid)
        try:
            page = await read(lambda s: data.database_page(s, ids, uuid, grace, cap, own))
        except NotFound as err:
            return pages.message(
                request, 404, "No such database", str(err), back="/my/subscriptions"
            )
        retired = page.retired.get(request.query_params.get("retired", ""))
        return pages.render(
            request, "database.html", title=f"Database {uuid}", page=page, retired=retired
        )

    async def audit_html(request: Request) -> Response:
        db = request.query_params.get("database")
        uuid = canonical_uuid(db) if db else None
        ids, email = await who(request)
        try:
            entries = await read(lambda s: data.audit_page(s, ids, uuid, grace, email))
        except NotFound as err:
            return pages.message(request, 404, "No such database", str(err), back="/my/audit")
        return pages.render(request, "audit.html", title="Activity", entries=entries, db=uuid)

    # --- JSON ------------------------------------------------------------------------------

    async def subscriptions_json(request: Request) -> Response:
        state = data.state_filter(request.query_params.get("state"))
        ids = await sub_ids(request)
        found = await read(lambda s: data.overview(s, ids, state, grace))
        return JSONResponse(found.to_json())

    async def database_json(request: Request) -> Response:
        uuid = canonical_uuid(request.path_params["uuid"])
        ids, own = await sub_ids(request), service.database_label(uuid)
        try:
            page = await read(lambda s: data.database_page(s, ids, uuid, grace, cap, own))
        except NotFound as err:
            return _json_error(404, str(err))
        return JSONResponse(page.to_json())

    async def audit_json(request: Request) -> Response:
        db = request.query_params.get("database")
        uuid = canonical_uuid(db) if db else None
        ids, email = await who(request)
        try:
            entries = await read(lambda s: data.audit_page(s, ids, uuid, grace, email))
        except NotFound as err:
            return _json_error(404, str(err))
        return JSONResponse({"entries": [e.to_json() for e in entries]})

    # --- errors ----------------------------------------------------------------------------

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/my/api/"):
            return _json_error(exc.status_code, str(exc.detail))
        title = "Page not found" if exc.status_code == 404 else "Not allowed here"
        return pages.message(request, exc.status_code, title, str(exc.detail), back="/")

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s", request.url.path, exc_info=exc)
        if request.url.path.startswith("/my/api/"):
            return _json_error(500, "the portal failed; the error is in its log")
        return pages.message(request, 500, "Portal error", "The portal failed; please retry.")

    retiring = Retiring(service, clock, pages, who)
    retire_path = "/my/databases/{uuid}/boxes/{label}/retire"
    page, api = gate.page, gate.api
    routes = [
        pages.stylesheet_route(),
        *gate.routes(),
        Route("/", home, methods=["GET"]),
        Route("/my/subscriptions", page(subscriptions_page), methods=["GET"]),
        Route("/my/databases/{uuid}", page(database_html), methods=["GET"]),
        Route(retire_path, page(retiring.confirm), methods=["GET"]),
        Route(retire_path, page(retiring.retire), methods=["POST"]),
        Route("/my/audit", page(audit_html), methods=["GET"]),
        Route("/my/api/subscriptions", api(subscriptions_json), methods=["GET"]),
        Route("/my/api/databases/{uuid}", api(database_json), methods=["GET"]),
        Route("/my/api/audit", api(audit_json), methods=["GET"]),
    ]
    app: ASGIApp = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, Exception: internal_error}
    )
    app = Sessions(
        app,
        store=SqlSessionStore(service.sessions),
        stamp_of=accounts.stamp,
        clock=clock,
        exempt=("/static/",),
        csrf_key=csrf_key,
        refuse=pages.refusal,
    )
    return SecurityHeaders(app, no_store=lambda path: not path.startswith("/static/"))


def _json_error(status: int, message: str) -> JSONResponse:
    body = ErrorBody(HttpErrorCode.for_status(status), message)
    return JSONResponse(body.to_json(), status_code=status)
