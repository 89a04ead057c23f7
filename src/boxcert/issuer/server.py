"""Assembling and running an issuer: database, CA backend, service, HTTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.dns01 import SqlTxtStore
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.service import IssuerService, IssuerSettings

log = logging.getLogger(__name__)


@dataclass
class IssuerOptions:
    data_dir: Path
    db_url: str | None = None
    zone: str = naming.DEFAULT_ZONE
    ca: str = "local"
    leaf_lifetime: timedelta = timedelta(days=90)
    max_boxes_per_database: int = 100
    zone_is_public_suffix: bool = False
    weekly_cap_per_domain: int = 45
    acme: AcmeOptions | None = None


def make_ca(
    options: IssuerOptions, zone: str, sessions: sessionmaker[Session]
) -> CertificateAuthority:
    if options.ca == "local":
        return LocalCA(options.data_dir / "ca", zone, leaf_lifetime=options.leaf_lifetime)
    if options.ca == "acme":
        if options.acme is None:
            raise IssuerError("--ca acme needs --acme-directory")
        return AcmeCA(options.data_dir / "acme", options.acme, SqlTxtStore(sessions))
    raise IssuerError(f"unknown CA backend {options.ca!r} (choose: local, acme)")


def build_service(options: IssuerOptions) -> IssuerService:
    prepare_data_dir(options.data_dir, options.db_url)
    zone = naming.normalize_zone(options.zone)
    engine = open_engine(database_url(options.data_dir, options.db_url))
    sessions = session_factory(engine)
    ca = make_ca(options, zone, sessions)
    settings = IssuerSettings(
        zone=zone,
        max_boxes_per_database=options.max_boxes_per_database,
        zone_is_public_suffix=options.zone_is_public_suffix,
        weekly_cap_per_domain=options.weekly_cap_per_domain,
    )
    return IssuerService(sessions, ca, settings)


async def serve(
    service: IssuerService,
    host: str,
    port: int,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; call ``on_ready`` with the base URL once bound."""
    from boxcert.issuer.app import create_app

    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        lifespan="on",
    )
    server = uvicorn.Server(config)  # it handles SIGINT/SIGTERM with a graceful shutdown
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started and on_ready is not None:
        bound = server.servers[0].sockets[0].getsockname()
        scheme = "https" if tls_cert else "http"
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        on_ready(f"{scheme}://{shown}:{bound[1]}")
    await task
