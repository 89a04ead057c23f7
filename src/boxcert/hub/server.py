"""Assembling and running the hub: database, service, HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import uvicorn

from boxcert.clock import Clock, system_clock
from boxcert.hub.db import open_database
from boxcert.hub.issuer_report import IssuerReporter
from boxcert.hub.service import HubService


def open_service(data_dir: Path, db_url: str | None, clock: Clock = system_clock) -> HubService:
    """The hub's service on its database (made private and migrated first)."""
    _, sessions = open_database(data_dir, db_url)
    return HubService(sessions, clock=clock)


async def serve(
    service: HubService,
    host: str,
    port: int,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    behind_tls_proxy: bool = False,
    on_ready: Callable[[str], None] | None = None,
    reporter: IssuerReporter | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; call ``on_ready`` with the bound base URL.

    Runs uvicorn itself until the shared ``boxcert.httpserver`` helper takes this over.
    Behind a TLS proxy, the proxy's ``X-Forwarded-For/Proto`` are believed from loopback only
    (uvicorn's default), so cookies get ``Secure`` and the login throttle sees real clients.
    ``reporter`` reports the database to the issuer at start and daily while the hub serves.
    """
    from boxcert.hub.app import create_app

    config = uvicorn.Config(
        create_app(service, clock=service.clock),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # paths and clients only, but a log line per request is noise
        proxy_headers=behind_tls_proxy,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started and on_ready is not None:
        bound = server.servers[0].sockets[0].getsockname()
        scheme = "https" if tls_cert else "http"
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        on_ready(f"{scheme}://{shown}:{bound[1]}")
    reporting = asyncio.create_task(reporter.run()) if reporter is not None else None
    try:
        await task
    finally:
        if reporting is not None:
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
