"""``boxcert issuer …``: run the issuer and administer its databases and subscriptions."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from boxcert import naming
from boxcert.clock import system_clock
from boxcert.hostport import parse_host_port, resolve_host_port
from boxcert.issuer import store
from boxcert.issuer.ca.acme import AcmeOptions
from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.server import IssuerOptions, build_service, serve
from boxcert.issuer.service import IssuerService

F = TypeVar("F", bound=Callable[..., Any])


def data_options(fn: F) -> F:
    fn = click.option(
        "--db", "db_url", envvar="BOXCERT_ISSUER_DB", default=None, metavar="URL",
        help="SQLAlchemy database URL (default: a SQLite file in --data).",
    )(fn)
    fn = click.option(
        "--data", "data_dir", envvar="BOXCERT_ISSUER_DATA", required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the issuer's state (CA files, SQLite database).",
    )(fn)
    return fn


@contextmanager
def admin_session(data_dir: Path, db_url: str | None) -> Iterator[Session]:
    try:
        prepare_data_dir(data_dir, db_url)
        engine = open_engine(database_url(data_dir, db_url))
        with session_factory(engine).begin() as session:
            yield session
    except (IssuerError, OSError) as err:
        raise click.ClickException(str(err)) from err


def _print_rows(rows: list[dict[str, object]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(c), *(len(_cell(r[c])) for r in rows)) for c in columns]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        click.echo("  ".join(_cell(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _cell(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def show_service_log() -> None:
    """A running service logs its decisions (grants, refusals) to stderr."""
    logging.getLogger("boxcert").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setLevel(min(handler.level or logging.INFO, logging.INFO))


@click.group("issuer")
def issuer_group() -> None:
    """The vendor's certificate service."""


def ca_options(fn: F) -> F:
    """Options that choose and configure the CA backend; shared by serve and revoke."""
    for option in reversed([
        click.option("--zone", default=naming.DEFAULT_ZONE, show_default=True),
        click.option("--ca", "ca_name", type=click.Choice(["local", "acme"]), default="local",
                     show_default=True),
        click.option("--acme-directory", metavar="URL", help="ACME directory URL (--ca acme)."),
        click.option("--acme-ca-bundle", type=click.Path(dir_okay=False, exists=True),
                     help="PEM bundle verifying the ACME server's TLS (default: system store)."),
        click.option("--acme-email", metavar="EMAIL", help="Contact for the ACME account."),
        click.option("--dns-server", "dns_servers", multiple=True, metavar="HOST:PORT",
                     help="Our authoritative DNS server(s); DNS-01 waits until each serves "
                          "the challenge. Repeatable."),
        click.option("--dns-wait", default=60.0, show_default=True,
                     type=click.FloatRange(0.5),
                     help="Seconds to wait for our DNS servers to serve a challenge."),
        click.option("--leaf-days", default=90, show_default=True,
                     type=click.IntRange(1, 398), help="Lifetime of local CA certificates."),
        click.option("--max-boxes", default=100, show_default=True, type=click.IntRange(1),
                     help="Boxes (keys) allowed per database."),
        click.option("--weekly-cap", default=45, show_default=True, type=click.IntRange(0),
                     help="ACME certificates per registered domain per 7 days (0: no cap); "
                          "keep it under the CA's own limit."),
        click.option("--zone-is-public-suffix", is_flag=True,
                     help="The zone is on the Public Suffix List: limits count per label."),
    ]):
        fn = option(fn)
    return fn


def issuer_options(data_dir: Path, db_url: str | None, **kw: Any) -> IssuerOptions:
    if kw["ca_name"] == "acme" and not kw["acme_directory"]:
        raise click.UsageError("--ca acme needs --acme-directory URL")
    acme = None
    if kw["acme_directory"]:
        try:
            servers = tuple(resolve_host_port(s, 53) for s in kw["dns_servers"])
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--dns-server") from err
        acme = AcmeOptions(
            directory_url=kw["acme_directory"], ca_bundle=kw["acme_ca_bundle"],
            email=kw["acme_email"], dns_servers=servers, propagation_timeout=kw["dns_wait"],
        )
    return IssuerOptions(
        data_dir=data_dir, db_url=db_url, zone=kw["zone"], ca=kw["ca_name"],
        leaf_lifetime=timedelta(days=kw["leaf_days"]), max_boxes_per_database=kw["max_boxes"],
        weekly_cap_per_domain=kw["weekly_cap"],
        zone_is_public_suffix=kw["zone_is_public_suffix"], acme=acme,
    )


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
@click.option("--behind-tls-proxy", is_flag=True,
              help="Allow plain HTTP on a non-loopback address: a TLS proxy is in front.")
def serve_command(
    data_dir: Path, db_url: str | None, listen: str, tls_cert: Path | None,
    tls_key: Path | None, behind_tls_proxy: bool, **kw: Any,
) -> None:
    """Serve POST /iot/x509 (and /odoo-enterprise/iot/x509)."""
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
    service = _build(issuer_options(data_dir, db_url, **kw))

    def ready(url: str) -> None:
        click.echo(f"issuer: listening on {url} (zone {service.settings.zone}, "
                   f"CA {service.ca.name})")
        sys.stdout.flush()

    asyncio.run(serve(service, host, port, tls_cert=tls_cert, tls_key=tls_key, on_ready=ready))


@issuer_group.command("revoke")
@data_options
@click.option("--domain", required=True, help="A name in the certificate (label.zone).")
@ca_options
def revoke_command(data_dir: Path, db_url: str | None, domain: str, **kw: Any) -> None:
    """Revoke every valid certificate that covers DOMAIN, at the CA and in our store."""
    service = _build(issuer_options(data_dir, db_url, **kw))
    try:
        revoked, skipped = asyncio.run(service.revoke_domain(domain))
    except IssuerError as err:
        raise click.ClickException(str(err)) from err
    for serial in revoked:
        click.echo(f"revoked {serial}")
    for serial, ca in skipped:
        click.echo(f"skipped {serial}: issued by CA backend {ca}, not the one configured here")
    if not revoked and not skipped:
        raise click.ClickException(f"no valid certificate covers {domain}")


@issuer_group.command("ca-bundle")
@data_options
@click.option("--zone", default=naming.DEFAULT_ZONE, show_default=True)
def ca_bundle_command(data_dir: Path, db_url: str | None, zone: str) -> None:
    """Print the local CA's root certificate (PEM), for boxes' --trust-ca."""
    from boxcert.issuer.ca.local import LocalCA

    click.echo(LocalCA(data_dir / "ca", naming.normalize_zone(zone)).root_pem, nl=False)


@issuer_group.group("database")
def database_group() -> None:
    """Customer databases."""


@database_group.command("add")
@data_options
@click.option("--uuid", required=True)
@click.option("--kind", type=click.Choice([k.value for k in DatabaseKind]), default="production",
              show_default=True)
@click.option("--subscription", "code", required=True, help="Contract code of its subscription.")
def database_add(data_dir: Path, db_url: str | None, uuid: str, kind: str, code: str) -> None:
    with admin_session(data_dir, db_url) as s:
        _run(lambda: store.add_database(s, uuid, DatabaseKind(kind), code, system_clock()))
    click.echo(f"database {uuid} added ({kind}, subscription {code})")


@database_group.command("set-kind")
@data_options
@click.option("--uuid", required=True)
@click.option("--kind", type=click.Choice([k.value for k in DatabaseKind]), required=True)
def database_set_kind(data_dir: Path, db_url: str | None, uuid: str, kind: str) -> None:
    with admin_session(data_dir, db_url) as s:
        _run(lambda: store.set_database_kind(s, uuid, DatabaseKind(kind)))
    click.echo(f"database {uuid} is now {kind}")


@database_group.command("list")
@data_options
@click.option("--json", "as_json", is_flag=True)
def database_list(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    with admin_session(data_dir, db_url) as s:
        rows = store.list_databases(s)
    _print_rows(rows, as_json, ["uuid", "kind", "subscription", "boxes"])


@issuer_group.group("subscription")
def subscription_group() -> None:
    """Subscriptions (contracts), identified by their contract code."""


@subscription_group.command("add")
@data_options
@click.option("--code", required=True)
@click.option("--state", type=click.Choice([s.value for s in SubscriptionState]),
              default="in_progress", show_default=True)
@click.option("--line", "lines", multiple=True, metavar="NAME",
              help='Product line, e.g. "IoT Box Subscription"; repeatable.')
def subscription_add(
    data_dir: Path, db_url: str | None, code: str, state: str, lines: tuple[str, ...]
) -> None:
    with admin_session(data_dir, db_url) as s:
        _run(lambda: store.add_subscription(
            s, code, SubscriptionState(state), list(lines), system_clock()))
    click.echo(f"subscription added ({state}, {len(lines)} line(s))")


@subscription_group.command("set-state")
@data_options
@click.option("--code", required=True)
@click.option("--state", type=click.Choice([s.value for s in SubscriptionState]), required=True)
def subscription_set_state(data_dir: Path, db_url: str | None, code: str, state: str) -> None:
    with admin_session(data_dir, db_url) as s:
        _run(lambda: store.set_subscription_state(s, code, SubscriptionState(state)))
    click.echo(f"subscription is now {state}")


@subscription_group.command("add-line")
@data_options
@click.option("--code", required=True)
@click.option("--line", required=True, metavar="NAME")
def subscription_add_line(data_dir: Path, db_url: str | None, code: str, line: str) -> None:
    with admin_session(data_dir, db_url) as s:
        _run(lambda: store.add_subscription_line(s, code, line))
    click.echo(f"line {line!r} added")


@subscription_group.command("list")
@data_options
@click.option("--json", "as_json", is_flag=True)
def subscription_list(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    """List subscriptions. The operator is authenticated here, so codes are shown."""
    with admin_session(data_dir, db_url) as s:
        rows = store.list_subscriptions(s)
    _print_rows(rows, as_json, ["code", "state", "lines"])


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except IssuerError as err:
        raise click.ClickException(str(err)) from err
