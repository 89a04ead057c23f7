"""``boxcert issuer …``: run the issuer and administer its databases and subscriptions."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509

from boxcert import httpserver, logsetup
from boxcert.hostport import parse_host_port
from boxcert.httpserver import HttpServerError, Timeouts, tls_context
from boxcert.issuer.admin_schema import RevocationReason
from boxcert.issuer.cli_access import account_group, audit_command, token_group
from boxcert.issuer.cli_admin import data_options, database_group, subscription_group
from boxcert.issuer.cli_ca import build, ca_options, existing_service, issuer_options
from boxcert.issuer.cli_removal import box_group
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.server import serve
from boxcert.issuer.workers import WorkerSpec, default_workers, serve_in_workers
from boxcert.workergroup import WorkerError

F = TypeVar("F", bound=Callable[..., Any])


def show_service_log() -> None:
    """A running service logs its decisions (grants, refusals) to stderr, unless the operator
    chose another ``--log-level``."""
    logsetup.default_level("info")


@click.group("issuer")
def issuer_group() -> None:
    """The vendor's certificate service."""


_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d`` → timedelta; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 7d, 12h, 30m or 0s, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@issuer_group.command("serve")
@data_options
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@ca_options
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client has to send a request's head.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client has to send a request's body once its head is in.",
)
@click.option(
    "--behind-tls-proxy",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address: a TLS proxy is in front.",
)
@click.option(
    "--revoke-grace",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="How long certificates stay valid after their database stops being entitled "
    "(7d, 12h, 0s).",
)
@click.option(
    "--lifecycle-interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between two looks at every database's entitlement.",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The URL boxes and browsers reach this issuer at (written in certificates as the "
    "CRL's address); default: the listening address.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes answering on the port (SO_REUSEPORT)  [default: one per core]",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (address, method, path, status, size, time; no secrets).",
)
def serve_command(
    data_dir: Path,
    db_url: str | None,
    listen: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    header_timeout: float,
    body_timeout: float,
    behind_tls_proxy: bool,
    revoke_grace: str,
    lifecycle_interval: float,
    public_url: str | None,
    workers: int | None,
    access_log: bool,
    **kw: Any,
) -> None:
    """Serve the boxes' endpoints, the admin API and the customer portal; run the lifecycle."""
    try:
        grace = parse_duration(revoke_grace)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--revoke-grace") from err
    if public_url is not None and not public_url.startswith(("https://", "http://")):
        raise click.BadParameter("an http(s):// URL", param_hint="--public-url")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        host, port = parse_host_port(listen)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--listen") from err
    if tls_cert is None and not behind_tls_proxy and not _is_loopback(host):
        # Contract codes would cross the network in clear text.
        raise click.UsageError(
            f"plain HTTP on {host}: give --tls-cert/--tls-key, or --behind-tls-proxy when a "
            "TLS proxy terminates the connections"
        )
    show_service_log()
    options = issuer_options(data_dir, db_url, **kw)
    options.revoke_grace, options.lifecycle_interval = grace, lifecycle_interval
    options.public_url = public_url
    service = build(options)  # also prepares what workers share: schema, CA files, secrets
    count = workers or default_workers()
    timeouts = Timeouts(header=header_timeout, body=body_timeout)
    shown = f"zone {service.settings.zone}, CA {service.ca.name}"

    def ready(url: str) -> None:
        click.echo(f"issuer: listening on {url} ({shown})")
        sys.stdout.flush()

    try:
        if count == 1:
            tls = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
            httpserver.run(
                serve(
                    service,
                    host,
                    port,
                    tls=tls,
                    timeouts=timeouts,
                    on_ready=ready,
                    access_log=access_log,
                )
            )
            return
        if tls_cert and tls_key:
            tls_context(tls_cert, tls_key)  # unusable files: said once, here
        service.close()
        service.sessions.kw["bind"].dispose()
        level, fmt = logsetup.current()
        spec = WorkerSpec(options, host, tls_cert, tls_key, timeouts, access_log, level, fmt)

        def group_ready(bound: int) -> None:
            scheme = "https" if tls_cert else "http"
            where = f"[{host}]" if ":" in host else host
            click.echo(
                f"issuer: listening on {scheme}://{where}:{bound} ({shown}, {count} workers)"
            )
            sys.stdout.flush()

        serve_in_workers(spec, port, count, group_ready)
    except (HttpServerError, WorkerError) as err:
        raise click.ClickException(str(err)) from err


@issuer_group.command("revoke")
@data_options
@click.option("--domain", required=True, help="A name in the certificate (label.zone).")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in RevocationReason]),
    default="unspecified",
    show_default=True,
    help="The RFC 5280 reason given to the CA.",
)
@ca_options
def revoke_command(data_dir: Path, db_url: str | None, domain: str, reason: str, **kw: Any) -> None:
    """Revoke every valid certificate that covers DOMAIN, at the CA and in our store."""
    service = existing_service(data_dir, db_url, **kw)
    try:
        result = asyncio.run(
            service.revoker.revoke_domain(domain, x509.ReasonFlags(reason), actor="cli")
        )
    except IssuerError as err:
        raise click.ClickException(str(err)) from err
    finally:
        service.close()  # the audit log keeps what was revoked
    for serial in result.revoked:
        click.echo(f"revoked {serial}")
    for serial, ca in result.skipped:
        click.echo(f"skipped {serial}: issued by CA backend {ca}, not the one configured here")
    if not result.revoked and not result.skipped:
        raise click.ClickException(f"no valid certificate covers {domain}")


@issuer_group.command("ca-bundle")
@data_options
@click.option("--zone", hidden=True, help="Ignored; kept for older scripts.")
def ca_bundle_command(data_dir: Path, db_url: str | None, zone: str | None) -> None:
    """Print the local CA's root certificate (PEM), for boxes' --trust-ca.

    Reads the CA that `issuer serve` made in --data; never makes one.
    """
    from boxcert.issuer.ca.local import read_root_pem

    try:
        click.echo(read_root_pem(data_dir / "ca"), nl=False)
    except (IssuerError, ValueError) as err:
        raise click.ClickException(str(err)) from err


issuer_group.add_command(database_group)
issuer_group.add_command(subscription_group)
issuer_group.add_command(box_group)
issuer_group.add_command(account_group)
issuer_group.add_command(token_group)
issuer_group.add_command(audit_command)
