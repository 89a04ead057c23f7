"""``boxcert hub …``: run the customer's hub and administer it.

Every verb works on the hub's data directory (``--data``) and its database (``--db``, else a
SQLite file there). Secrets are shown only where they are made: the admin password at the first
``serve`` (or by ``password --generate``), a pairing token by ``token``. The contract code is
never printed.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from boxcert import httpserver, logsetup
from boxcert.hostport import parse_host_port
from boxcert.httpserver import HttpServerError
from boxcert.hub.errors import HubError
from boxcert.hub.issuer_info import check_zone, fetch_zone, tls_context
from boxcert.hub.issuer_report import IssuerReporter, instance_fingerprint, send_report
from boxcert.hub.server import open_service, serve
from boxcert.hub.service import DEFAULT_TOKEN_LIFETIME, HubConfig, HubService
from boxcert.wire.hub import check_hub_url, check_transport, is_loopback_host
from boxcert.wire.x509 import WireError, canonical_uuid

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_LISTEN = "127.0.0.1:8070"
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def data_options(fn: F) -> F:
    fn = click.option(
        "--db",
        "db_url",
        envvar="BOXCERT_HUB_DB",
        default=None,
        metavar="URL",
        help="SQLAlchemy database URL (default: a SQLite file in --data).",
    )(fn)
    fn = click.option(
        "--data",
        "data_dir",
        envvar="BOXCERT_HUB_DATA",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the hub's state (SQLite database).",
    )(fn)
    return fn


def _service(data_dir: Path, db_url: str | None) -> HubService:
    try:
        return open_service(data_dir, db_url)
    except (HubError, OSError) as err:
        raise click.ClickException(str(err)) from err


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except HubError as err:
        raise click.ClickException(str(err)) from err


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` → timedelta; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 15m, 2h or 90s, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@click.group("hub")
def hub_group() -> None:
    """The customer's server: pairs boxes and lists them."""


@hub_group.command("serve")
@data_options
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option(
    "--public-url",
    metavar="URL",
    help="The URL boxes use to reach the hub (default: the listening address).",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--behind-tls-proxy",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address: a TLS proxy is in front.",
)
@click.option(
    "--issuer-ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM file verifying the issuer's TLS for the daily report (default: system store).",
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
    public_url: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    behind_tls_proxy: bool,
    issuer_ca: Path | None,
    access_log: bool,
) -> None:
    """Serve the boxes' endpoints and the admin pages."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        host, port = parse_host_port(listen)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--listen") from err
    if tls_cert is None and not behind_tls_proxy and not is_loopback_host(host):
        # Contract codes and box secrets would cross the network in clear text.
        raise click.UsageError(
            f"plain HTTP on {host}: give --tls-cert/--tls-key, or --behind-tls-proxy when a "
            "TLS proxy terminates the connections"
        )
    if public_url is not None:
        try:
            public_url = check_hub_url(public_url, "--public-url")
            check_transport(public_url, "--public-url")
        except WireError as err:
            raise click.BadParameter(str(err), param_hint="--public-url") from err
    elif _is_wildcard(host) or behind_tls_proxy:
        raise click.UsageError("give --public-url: the address boxes use to reach this hub")
    _show_service_log()
    service = _service(data_dir, db_url)

    def ready(url: str) -> None:
        # Only once the hub serves: a start that fails (port taken, bad TLS files) is one line.
        password = _run(service.ensure_admin_password)
        if password is not None:
            click.echo(
                "hub: admin password for the pages (shown once; change it with "
                f"`boxcert hub password`): {password}"
            )
        if _run(service.config) is None:
            click.echo(
                "hub: not configured yet; boxes cannot pair before `boxcert hub configure`",
                err=True,
            )
        _run(lambda: service.set_public_url(public_url or url))
        click.echo(f"hub: listening on {url} (boxes reach it at {public_url or url})")
        sys.stdout.flush()

    reporter = _run(lambda: IssuerReporter(service, data_dir, issuer_ca=issuer_ca))
    try:
        httpserver.run(
            serve(
                service,
                host,
                port,
                tls_cert=tls_cert,
                tls_key=tls_key,
                behind_tls_proxy=behind_tls_proxy,
                on_ready=ready,
                reporter=reporter,
                access_log=access_log,
            )
        )
    except HttpServerError as err:
        raise click.ClickException(str(err)) from err


@hub_group.command("configure")
@data_options
@click.option("--db-uuid", help="The customer's database UUID.")
@click.option(
    "--enterprise-code",
    metavar="CODE",
    help="The subscription's contract code; '-' reads it from standard input.",
)
@click.option("--issuer", "issuer_url", metavar="URL", help="The issuer the boxes use.")
@click.option("--zone", help="The IoT zone, when the issuer does not announce it (/iot/info).")
@click.option(
    "--issuer-ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM file verifying the issuer's TLS (default: the system store).",
)
def configure_command(
    data_dir: Path,
    db_url: str | None,
    db_uuid: str | None,
    enterprise_code: str | None,
    issuer_url: str | None,
    zone: str | None,
    issuer_ca: Path | None,
) -> None:
    """Set the database identity, the contract code and the issuer handed to paired boxes."""
    service = _service(data_dir, db_url)
    current = _run(service.config)
    if enterprise_code == "-":
        enterprise_code = sys.stdin.readline().strip()
    db_uuid = canonical_uuid(db_uuid) if db_uuid else (current.db_uuid if current else "")
    enterprise_code = (enterprise_code or "").strip() or (
        current.enterprise_code if current else ""
    )
    issuer_url = issuer_url or (current.issuer_url if current else "")
    missing = [
        name
        for name, value in (
            ("--db-uuid", db_uuid),
            ("--enterprise-code", enterprise_code),
            ("--issuer", issuer_url),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    try:
        issuer_url = check_hub_url(issuer_url, "--issuer")
        check_transport(issuer_url, "--issuer")
    except WireError as err:
        raise click.BadParameter(str(err), param_hint="--issuer") from err
    try:
        announced = fetch_zone(issuer_url, issuer_ca)
    except HubError as err:
        if zone is None:
            raise click.ClickException(
                f"cannot read the zone from the issuer ({err}); give --zone"
            ) from err
        try:
            chosen, source = check_zone(zone), "given with --zone"
        except ValueError as bad:
            raise click.BadParameter(str(bad), param_hint="--zone") from bad
        click.echo(f"hub: the issuer does not announce its zone ({err}); using --zone", err=True)
    else:
        if zone is not None and check_zone(zone) != announced:
            raise click.ClickException(
                f"the issuer announces the zone {announced}, not {zone}; leave out --zone"
            )
        chosen, source = announced, "announced by the issuer"
    _run(lambda: service.configure(HubConfig(db_uuid, enterprise_code, issuer_url, chosen)))
    click.echo(
        f"hub configured: database {db_uuid}, contract code set, issuer {issuer_url}, "
        f"zone {chosen} ({source})"
    )


@hub_group.command("token")
@data_options
@click.option(
    "--expires",
    default="15m",
    show_default=True,
    metavar="DURATION",
    help="How long the token works: 90s, 15m, 2h, 1d (at most 7 days).",
)
def token_command(data_dir: Path, db_url: str | None, expires: str) -> None:
    """Print a new one-time pairing token for one box."""
    try:
        lifetime = parse_duration(expires)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--expires") from err
    service = _service(data_dir, db_url)
    token = _run(lambda: service.new_token(lifetime))
    click.echo(token.encode())
    shown = "15 minutes" if lifetime == DEFAULT_TOKEN_LIFETIME else expires.strip()
    click.echo(f"works once, for {shown}: on the box, `boxcert box connect TOKEN`", err=True)


@hub_group.command("boxes")
@data_options
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def boxes_command(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    """List the boxes: name, URL, certificate end date, status, last seen."""
    views = _run(_service(data_dir, db_url).boxes)
    rows = [view.to_json() for view in views]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("(no box)")
        return
    columns = [
        "identifier",
        "name",
        "ip",
        "url",
        "certificate_end_date",
        "days_left",
        "status",
        "error_code",
        "last_seen",
    ]
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    click.echo(header.rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


@hub_group.command("forget")
@data_options
@click.argument("identifier")
def forget_command(data_dir: Path, db_url: str | None, identifier: str) -> None:
    """Unpair a box: its secret stops working at once."""
    _run(lambda: _service(data_dir, db_url).forget(identifier))
    click.echo(f"forgot box {identifier}")


@hub_group.command("add-legacy")
@data_options
@click.argument("identifier")
@click.option("--name", default="", help="A name to show for the box.")
def add_legacy_command(data_dir: Path, db_url: str | None, identifier: str, name: str) -> None:
    """Accept the end-date reports of an existing vendor box (which cannot pair by token)."""
    _run(lambda: _service(data_dir, db_url).add_legacy_box(identifier.strip(), name.strip()))
    click.echo(
        f"box {identifier} added; its reports to /iot/box/update_certificate_status "
        "are now accepted"
    )


@hub_group.command("fingerprint")
@data_options
def fingerprint_command(data_dir: Path, db_url: str | None) -> None:
    """Print this installation's fingerprint (what the vendor keeps to resolve a duplicate)."""
    _service(data_dir, db_url)  # the data directory made private first
    click.echo(_run(lambda: instance_fingerprint(data_dir)))


@hub_group.command("report")
@data_options
@click.option(
    "--issuer-ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM file verifying the issuer's TLS (default: the system store).",
)
def report_command(data_dir: Path, db_url: str | None, issuer_ca: Path | None) -> None:
    """Report this installation to the issuer now (serve does it at start and daily)."""
    service = _service(data_dir, db_url)
    answer = _run(
        lambda: send_report(service, instance_fingerprint(data_dir), tls_context(issuer_ca))
    )
    state = (
        "marked DUPLICATE: ask the vendor to keep this installation" if answer.duplicate else "ok"
    )
    click.echo(f"reported as installation {instance_fingerprint(data_dir)}: {state}")


@hub_group.command("password")
@data_options
@click.option("--generate", is_flag=True, help="Make a random password and print it once.")
def password_command(data_dir: Path, db_url: str | None, generate: bool) -> None:
    """Change the admin password of the hub's pages; open sessions end."""
    from boxcert import secrets

    service = _service(data_dir, db_url)
    if generate:
        password = secrets.new_password()
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _run(lambda: service.set_admin_password(password))
    if generate:
        click.echo(f"new admin password (shown once): {password}")
    else:
        click.echo("admin password changed")


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _show_service_log() -> None:
    """A running hub logs its decisions (pairings, refusals, status changes) to stderr,
    unless the operator chose another ``--log-level``."""
    logsetup.default_level("info")
