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
from boxcert.issuer.db import open_engine, session_factory
from boxcert.issuer.errors import IssuerError


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:53``, ``[::1]:53`` or ``::1:53`` → (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


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
    help="SQLAlchemy URL of the issuer's database (TXT records are read from it).",
)
@click.option(
    "--listen",
    default="127.0.0.1:5353",
    show_default=True,
    metavar="HOST:PORT",
    help="Address for UDP and TCP; port 0 picks a free one.",
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
    listen: str,
    ns_names: tuple[str, ...],
    ns_addresses: tuple[str, ...],
    allow_public: bool,
) -> None:
    """Answer A/AAAA for IP-in-name hosts and TXT for ACME DNS-01, until SIGINT/SIGTERM."""
    try:
        host, port = parse_listen(listen)
        config = ZoneConfig(
            zone=zone,
            ns_names=ns_names,
            ns_addresses=tuple(ipaddress.ip_address(a) for a in ns_addresses),
            allow_public=allow_public,
        )
        engine = open_engine(db_url)
    except (ValueError, IssuerError) as err:
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
        raise click.ClickException(f"cannot listen on {listen}: {err}") from err
    finally:
        engine.dispose()
    click.echo("dns: stopped", err=True)
