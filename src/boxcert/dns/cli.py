"""``boxcert dns …``: run the IoT zone's authoritative DNS server."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import sys

import click

from boxcert import naming
from boxcert.dns.answer import ZoneConfig
from boxcert.dns.server import DnsServer, serve
from boxcert.dns.zonedata import SqlZoneData
from boxcert.hostport import parse_host_port
from boxcert.storage.engine import StorageError, open_engine, session_factory


def _host_port(_ctx: click.Context, _param: click.Parameter, text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text)
    except ValueError as err:
        hint = " (write an IPv6 address in brackets: [::1]:53)" if text.count(":") > 1 else ""
        raise click.BadParameter(f"{err}{hint}") from err


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@click.group("dns")
def dns_group() -> None:
    """The IoT zone's authoritative DNS server."""


@dns_group.command("serve")
@click.option("--zone", default=naming.DEFAULT_ZONE, show_default=True)
@click.option(
    "--db",
    "db_url",
    required=True,
    metavar="URL",
    help="SQLAlchemy URL of the issuer's database; only SELECT on txt_records is needed.",
)
@click.option(
    "--listen",
    default="127.0.0.1:5353",
    show_default=True,
    metavar="HOST:PORT",
    callback=_host_port,
    help="Address for UDP and TCP ([::1]:53 for IPv6); port 0 picks a free one.",
)
@click.option(
    "--ns",
    "ns_names",
    multiple=True,
    metavar="NAME",
    help="Name server of the zone (repeatable). Default: ns1.<zone>.",
)
@click.option(
    "--ns-address",
    "ns_addresses",
    multiple=True,
    metavar="IP",
    help="Address served for the NS names inside the zone (repeatable).",
)
@click.option(
    "--allow-public",
    is_flag=True,
    help="Also answer names that spell public addresses (default: LAN addresses only).",
)
def serve_command(
    zone: str,
    db_url: str,
    listen: tuple[str, int],
    ns_names: tuple[str, ...],
    ns_addresses: tuple[str, ...],
    allow_public: bool,
) -> None:
    """Answer A/AAAA for IP-in-name hosts and TXT for ACME DNS-01, until SIGINT/SIGTERM."""
    host, port = listen
    try:
        config = ZoneConfig(
            zone=zone,
            ns_names=ns_names,
            ns_addresses=tuple(ipaddress.ip_address(a) for a in ns_addresses),
            allow_public=allow_public,
        )
        # Never migrated from here: the schema is the issuers' job, and this server (open to the
        # internet) needs no right beyond reading txt_records. Without the table yet, TXT
        # questions get SERVFAIL until an issuer creates it.
        # A snapshot read that hangs would freeze every challenge: bound it (PostgreSQL).
        engine = open_engine(db_url, statement_timeout_ms=2000)
    except (ValueError, StorageError) as err:
        raise click.ClickException(str(err)) from err
    server = DnsServer(config, SqlZoneData(session_factory(engine)), host, port)

    def ready(bound_host: str, bound_port: int) -> None:
        click.echo(f"dns: serving {config.zone} on {_show(bound_host, bound_port)} (udp+tcp)")
        sys.stdout.flush()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(server, stop, on_ready=ready)

    try:
        asyncio.run(run())
    except OSError as err:
        raise click.ClickException(f"cannot listen on {_show(host, port)}: {err}") from err
    finally:
        engine.dispose()
    click.echo("dns: stopped", err=True)
