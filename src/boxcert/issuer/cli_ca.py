"""Options shared by the issuer commands that need its CA backend — ``serve``, ``revoke`` and
the removals that revoke first — and the service built from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from boxcert import naming
from boxcert.hostport import resolve_host_port
from boxcert.issuer.ca.acme import AcmeOptions
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.server import IssuerOptions, Rfc2136Options, build_service
from boxcert.issuer.service import IssuerService

F = TypeVar("F", bound=Callable[..., Any])


def ca_options(fn: F) -> F:
    """Options that choose and configure the CA backend; shared by serve, revoke and the
    removals that revoke first."""
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
                help="Boxes (keys) allowed per database without a cap of its own "
                "(`database set-max-boxes`).",
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


def build(options: IssuerOptions) -> IssuerService:
    try:
        return build_service(options)
    except (ValueError, OSError, IssuerError) as err:
        raise click.ClickException(str(err)) from err


def existing_service(data_dir: Path, db_url: str | None, **kw: Any) -> IssuerService:
    """The service on an issuer's existing data and CA (never makes a CA); for commands that
    revoke. Close it when done (the audit log's queue is written then)."""
    from boxcert.issuer.db import SQLITE_FILE

    if db_url is None and not (data_dir / SQLITE_FILE).exists():
        raise click.ClickException(f"there is no issuer data in {data_dir} (is --data right?)")
    return build(replace(issuer_options(data_dir, db_url, **kw), create_ca=False))
