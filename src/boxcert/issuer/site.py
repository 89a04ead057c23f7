"""Everything the issuer serves, on one port: three apps, each with its own protections.

- the boxes' and hubs' endpoints (:mod:`.app`: ``/iot/…``, ``/odoo-enterprise/…``,
  ``/ca/crl``, ``/healthz``) — the hot path, a plain Starlette app, no sessions;
- the admin API (:mod:`.admin_api`: ``/api/v1/…``, ``/openapi.json``) — bearer tokens;
- the customer portal (:mod:`.portal.app`: ``/``, ``/my/…``, ``/login``, ``/logout``,
  ``/static/…``) — cookies, CSRF, security headers.

:func:`create_site` sends each request to its app by path prefix, so a portal cookie never
reaches the API or the boxes' endpoints. When ``run_jobs`` is set the lifespan runs the
lifecycle job (:mod:`.lifecycle`) until the server stops, and then stores the audit log's
queue. Every request goes through :func:`~.access.access_log` (latency metrics; one line per
request to ``access_log`` when given).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Receive, Scope, Send

from boxcert.clock import Clock
from boxcert.issuer import access
from boxcert.issuer.access import AccessLogWriter
from boxcert.issuer.admin_api import create_admin_api
from boxcert.issuer.admin_schema import API_PREFIX
from boxcert.issuer.app import create_app
from boxcert.issuer.portal.accounts import SqlSessionStore
from boxcert.issuer.portal.app import PREFIXES, create_portal
from boxcert.issuer.service import IssuerService
from boxcert.issuer.store import settings
from boxcert.web import LoginThrottle, SessionPolicy

log = logging.getLogger(__name__)
SESSION_PURGE_EVERY = 3600.0


def create_site(
    service: IssuerService,
    *,
    run_jobs: bool = False,
    clock: Clock | None = None,
    throttle: LoginThrottle | None = None,
    access_log: AccessLogWriter | None = None,
) -> ASGIApp:
    clock = clock or service.clock

    sessions = SqlSessionStore(service.sessions)

    async def purge_sessions(stop: asyncio.Event) -> None:
        """Drop portal sessions idle past the web package's limit, hourly."""
        while not stop.is_set():
            idle_before = clock() - SessionPolicy().idle
            try:
                await asyncio.to_thread(sessions.purge, idle_before)
            except Exception:
                log.exception("could not purge portal sessions")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=SESSION_PURGE_EVERY)

    @contextlib.asynccontextmanager
    async def jobs() -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if run_jobs:
            tasks = [
                asyncio.create_task(service.lifecycle.run(stop)),
                asyncio.create_task(purge_sessions(stop)),
            ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await asyncio.to_thread(service.close)

    machine = create_app(service, lifespan_extra=jobs)
    admin = create_admin_api(service)
    with service.sessions.begin() as session:
        csrf_key = settings.portal_csrf_key(session)
    portal = create_portal(service, clock=clock, csrf_key=csrf_key, throttle=throttle)
    api_prefix = API_PREFIX + "/"

    async def site(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(api_prefix) or path == "/openapi.json":
                await admin(scope, receive, send)
                return
            if path == "/" or path.startswith(PREFIXES):
                await portal(scope, receive, send)
                return
        await machine(scope, receive, send)

    return access.access_log(site, service.metrics, access_log)
