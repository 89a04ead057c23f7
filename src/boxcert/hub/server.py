"""Assembling and running the hub: database, service, HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from boxcert import httpserver, logsetup
from boxcert.accesslog import AccessLogWriter
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
    access_log: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM; call ``on_ready`` with the bound base URL.

    Runs on :func:`boxcert.httpserver.serve` (header and body deadlines). Behind a TLS proxy,
    the proxy's ``X-Forwarded-For/Proto`` are believed from loopback only, so cookies get
    ``Secure`` and the login throttle sees real clients. Raises HttpServerError with one line
    when it cannot start. ``reporter`` reports the database to the issuer at start and daily
    while the hub serves. ``access_log``: one line per request on stderr, in the log's format
    (:mod:`boxcert.accesslog`).
    """
    from boxcert.hub.app import create_app

    tls = None
    if tls_cert is not None and tls_key is not None:
        tls = httpserver.tls_context(tls_cert, tls_key)
    writer = AccessLogWriter(sys.stderr, logsetup.current()[1]) if access_log else None
    reporting = asyncio.create_task(reporter.run()) if reporter is not None else None
    try:
        await httpserver.serve(
            create_app(service, clock=service.clock, access_log=writer),
            host,
            port,
            tls=tls,
            proxy_headers=behind_tls_proxy,
            on_ready=on_ready,
        )
    finally:
        if reporting is not None:
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
        if writer is not None:
            writer.close()
