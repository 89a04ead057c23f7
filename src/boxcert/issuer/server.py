"""Assembling and running an issuer: database, CA backend, service, HTTP server."""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from boxcert import httpserver, logsetup, naming
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.dns01 import SqlTxtStore, TxtStore
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.ca.rfc2136 import Rfc2136TxtStore, TsigKey
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.crl import CRL_PATH
from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.service import IssuerService

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
    revoke_grace: timedelta = timedelta(days=7)
    lifecycle_interval: float = 60.0
    # The URL browsers and boxes reach this issuer at (the CRL's address in certificates);
    # None: the address it listens on.
    public_url: str | None = None
    # Where DNS-01 values go: None for our own table (read by `boxcert dns serve`).
    txt: Rfc2136Options | None = None
    # False for commands that only use an existing CA (revoke): never make one.
    create_ca: bool = True


@dataclass(frozen=True)
class Rfc2136Options:
    """The zone's primary server and the TSIG key allowed to update it."""

    server: tuple[str, int]
    key: TsigKey


def make_ca(
    options: IssuerOptions, zone: str, sessions: sessionmaker[Session]
) -> CertificateAuthority:
    if options.ca == "local":
        crl_url = options.public_url.rstrip("/") + CRL_PATH if options.public_url else None
        return LocalCA(
            options.data_dir / "ca",
            zone,
            leaf_lifetime=options.leaf_lifetime,
            crl_url=crl_url,
            create=options.create_ca,
        )
    if options.ca == "acme":
        if options.acme is None:
            raise IssuerError("--ca acme needs --acme-directory")
        txt: TxtStore = SqlTxtStore(sessions)
        if options.txt is not None:
            txt = Rfc2136TxtStore(options.txt.server, zone, options.txt.key)
        return AcmeCA(options.data_dir / "acme", options.acme, txt)
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
        revoke_grace=options.revoke_grace,
    )
    service = IssuerService(sessions, ca, settings)
    service.lifecycle.interval = options.lifecycle_interval
    return service


async def serve(
    service: IssuerService,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    timeouts: httpserver.Timeouts = httpserver.DEFAULT_TIMEOUTS,
    on_ready: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
    run_jobs: bool = True,
    access_log: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM; ``on_ready`` gets the base URL once bound. ``sock``: a bound
    socket (a worker's); ``run_jobs``: run the background jobs here (one worker of a group);
    ``access_log``: one line per request.

    Raises :class:`boxcert.httpserver.HttpServerError` when the server cannot start.
    """
    from boxcert.issuer.access import AccessLogWriter
    from boxcert.issuer.site import create_site

    def ready(url: str) -> None:
        if isinstance(service.ca, LocalCA) and service.ca.crl_url is None:
            service.ca.crl_url = url + CRL_PATH  # no --public-url: where we listen
        if on_ready is not None:
            on_ready(url)

    writer = AccessLogWriter(sys.stderr, logsetup.current()[1]) if access_log else None
    site = create_site(service, run_jobs=run_jobs, access_log=writer)
    try:
        await httpserver.serve(
            site, host, port, tls=tls, timeouts=timeouts, on_ready=ready, sock=sock
        )
    finally:
        if writer is not None:
            writer.close()
