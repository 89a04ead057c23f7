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

from boxcert import httpserver, logsetup, naming
from boxcert.hostport import parse_host_port, resolve_host_port
from boxcert.httpserver import HttpServerError, Timeouts, tls_context
from boxcert.issuer.admin_schema import RevocationReason
from boxcert.issuer.ca.acme import AcmeOptions
from boxcert.issuer.cli_access import account_group, audit_command, token_group
from boxcert.issuer.cli_admin import data_options, database_group, subscription_group
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.server import IssuerOptions, Rfc2136Options, build_service, serve
from boxcert.issuer.service import IssuerService
from boxcert.issuer.workers import WorkerError, WorkerSpec, default_workers, serve_in_workers

F = TypeVar("F", bound=Callable[..., Any])


def show_service_log() -> None:
    """A running service logs its decisions (grants, refusals) to stderr, unless the operator
    chose another ``--log-level``."""
    logsetup.default_level("info")


@click.group("issuer")
def issuer_group() -> None:
    """The vendor's certificate service."""


def ca_options(fn: F) -> F:
    """Options that choose and configure the CA backend; shared by serve and revoke."""
    for option in reversed(
        [
            click.option("--zone", default=naming.DEFAULT_ZONE, show_default=True),
            click.option(
                "--ca",
                "ca_name",
                type=click.Choice(["local", "acme"]),
                default="local",
                show_default=True,
            ),
            click.option("--acme-directory", metavar="URL", help="ACME directory URL (--ca acme)."),
            click.option(
                "--acme-ca-bundle",
                type=click.Path(dir_okay=False, exists=True),
                help="PEM bundle verifying the ACME server's TLS (default: system store).",
            ),
            click.option("--acme-email", metavar="EMAIL", help="Contact for the ACME account."),
            click.option(
                "--dns-server",
                "dns_servers",
                multiple=True,
                metavar="HOST:PORT",
                help="Our authoritative DNS server(s); DNS-01 waits until each serves "
                "the challenge. Repeatable.",
            ),
            click.option(
                "--dns-wait",
                default=60.0,
                show_default=True,
                type=click.FloatRange(0.5),
                help="Seconds to wait for our DNS servers to serve a challenge.",
            ),
            click.option(
                "--leaf-days",
                default=90,
                show_default=True,
                type=click.IntRange(1, 398),
                help="Lifetime of local CA certificates.",
            ),
            click.option(
                "--max-boxes",
                default=100,
                show_default=True,
                type=click.IntRange(1),
                help="Boxes (keys) allowed per database.",
            ),
            click.option(
                "--weekly-cap",
                default=45,
                show_default=True,
                type=click.IntRange(0),
                help="ACME certificates per registered domain per 7 days (0: no cap); "
                "keep it under the CA's own limit.",
            ),
            click.option(
                "--zone-is-public-suffix",
                is_flag=True,
                help="The zone is on the Public Suffix List: limits count per label.",
            ),
            click.option(
                "--txt-store",
                type=click.Choice(["sql", "rfc2136"]),
                default="sql",
                show_default=True,
                help="Where DNS-01 values go: our database (read by `boxcert dns serve`), or "
                "the zone's own DNS server by RFC 2136 dynamic updates.",
            ),
            click.option(
                "--txt-server",
                metavar="HOST:PORT",
                help="The zone's primary DNS server, for --txt-store rfc2136.",
            ),
            click.option(
                "--tsig-key",
                type=click.Path(dir_okay=False, path_type=Path),
                help="BIND key file (tsig-keygen) allowed to update the zone, for --txt-store "
                "rfc2136.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def issuer_options(data_dir: Path, db_url: str | None, **kw: Any) -> IssuerOptions:
    if kw["ca_name"] == "acme" and not kw["acme_directory"]:
        raise click.UsageError("--ca acme needs --acme-directory URL")
    txt = None
    if kw["txt_store"] == "rfc2136":
        txt = _rfc2136_options(kw["txt_server"], kw["tsig_key"])
    acme = None
    if kw["acme_directory"]:
        try:
            servers = tuple(resolve_host_port(s, 53) for s in kw["dns_servers"])
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--dns-server") from err
        acme = AcmeOptions(
            directory_url=kw["acme_directory"],
            ca_bundle=kw["acme_ca_bundle"],
            email=kw["acme_email"],
            dns_servers=servers,
            propagation_timeout=kw["dns_wait"],
        )
    return IssuerOptions(
        data_dir=data_dir,
        db_url=db_url,
        zone=kw["zone"],
        ca=kw["ca_name"],
        leaf_lifetime=timedelta(days=kw["leaf_days"]),
        max_boxes_per_database=kw["max_boxes"],
        weekly_cap_per_domain=kw["weekly_cap"],
        zone_is_public_suffix=kw["zone_is_public_suffix"],
        acme=acme,
        txt=txt,
    )


def _rfc2136_options(server: str | None, key_file: Path | None) -> Rfc2136Options:
    from boxcert.issuer.ca.rfc2136 import load_tsig_key

    if not server or key_file is None:
        raise click.UsageError("--txt-store rfc2136 needs --txt-server HOST:PORT and --tsig-key")
    try:
        address = resolve_host_port(server, 53)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--txt-server") from err
    try:
        key = load_tsig_key(key_file)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--tsig-key") from err
    return Rfc2136Options(address, key)


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


def _build(options: IssuerOptions) -> IssuerService:
    try:
        return build_service(options)
    except (ValueError, OSError, IssuerError) as err:
        raise click.ClickException(str(err)) from err


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
    service = _build(options)  # also prepares what workers share: schema, CA files, secrets
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
    from dataclasses import replace

    from boxcert.issuer.db import SQLITE_FILE

    if db_url is None and not (data_dir / SQLITE_FILE).exists():
        raise click.ClickException(f"there is no issuer data in {data_dir} (is --data right?)")
    service = _build(replace(issuer_options(data_dir, db_url, **kw), create_ca=False))
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
issuer_group.add_command(account_group)
issuer_group.add_command(token_group)
issuer_group.add_command(audit_command)
