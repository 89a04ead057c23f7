"""``boxcert dns …``: run the IoT zone's authoritative DNS server (and, when asked, its
``/metrics`` and ``/healthz`` listener, :mod:`boxcert.dns.metrics`)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable

import click

from boxcert import httpserver, naming
from boxcert.dns.answer import ZoneConfig
from boxcert.dns.counters import CountTable
from boxcert.dns.metrics import create_metrics_app
from boxcert.dns.server import DnsServer, serve
from boxcert.dns.workers import WorkerSpec, count_table, worker_group
from boxcert.dns.zonedata import SqlZoneData
from boxcert.hostport import parse_host_port
from boxcert.httpserver import HttpServerError
from boxcert.storage.engine import StorageError, open_engine, session_factory
from boxcert.workergroup import WorkerError


def _host_port(_ctx: click.Context, _param: click.Parameter, text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text)
    except ValueError as err:
        hint = " (write an IPv6 address in brackets: [::1]:53)" if text.count(":") > 1 else ""
        raise click.BadParameter(f"{err}{hint}") from err


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _serve(
    spec: WorkerSpec,
    index: int,
    port: int,
    on_ready: Callable[[str, int], None],
    stop: asyncio.Event,
    reuse_port: bool = False,
) -> None:
    # Never migrated from here: the schema is the issuers' job, and this server (open to the
    # internet) needs no right beyond reading txt_records. Without the table yet, TXT
    # questions get SERVFAIL until an issuer creates it.
    # A snapshot read that hangs would freeze every challenge: bound it (PostgreSQL).
    engine = open_engine(spec.db_url, statement_timeout_ms=2000)
    table = CountTable.attach(spec.counts_file) if spec.counts_file else CountTable.anonymous()
    listening: asyncio.Task[None] | None = None
    try:
        data = SqlZoneData(session_factory(engine))
        if spec.metrics_listen is not None and index == 0:
            # Bound first: a metrics port in use stops the start with one line.
            sock = httpserver.bind(*spec.metrics_listen)
            app = create_metrics_app(spec.zone.zone, table.totals, data)
            listening = asyncio.create_task(
                httpserver.serve(app, "", 0, sock=sock, stop=stop, on_ready=_metrics_line)
            )
        server = DnsServer(
            spec.zone, data, spec.host, port, reuse_port=reuse_port, counts=table.row(index)
        )
        await serve(server, stop, on_ready=on_ready)
    finally:
        if listening is not None:
            stop.set()
            await listening
        engine.dispose()


def _metrics_line(url: str) -> None:
    click.echo(f"dns: metrics and health on {url}/metrics, {url}/healthz")
    sys.stdout.flush()


async def serve_worker(
    spec: WorkerSpec,
    index: int,
    port: int,
    on_ready: Callable[[str, int], None],
    stop: asyncio.Event,
) -> None:
    """One worker of ``--workers N``: the server on a port the others share."""
    await _serve(spec, index, port, on_ready, stop, reuse_port=True)


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
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (SO_REUSEPORT); one per core to use.",
)
@click.option(
    "--metrics-listen",
    default=None,
    metavar="HOST:PORT",
    callback=lambda ctx, param, text: None if text is None else _host_port(ctx, param, text),
    help="Also serve /metrics and /healthz over HTTP here (e.g. 127.0.0.1:9153). Default: off.",
)
def serve_command(
    zone: str,
    db_url: str,
    listen: tuple[str, int],
    ns_names: tuple[str, ...],
    ns_addresses: tuple[str, ...],
    allow_public: bool,
    workers: int,
    metrics_listen: tuple[str, int] | None,
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
        open_engine(db_url).dispose()  # a bad URL or a missing driver: said here, once
    except (ValueError, StorageError) as err:
        raise click.ClickException(str(err)) from err
    level = logging.getLogger().getEffectiveLevel()
    spec = WorkerSpec(config, db_url, host, level, metrics_listen=metrics_listen)
    if workers == 1:
        _serve_here(spec, port)
    else:
        _serve_in_workers(spec, port, workers)
    click.echo("dns: stopped", err=True)


def _ready_line(spec: WorkerSpec, port: int, workers: int) -> None:
    how = "udp+tcp" if workers == 1 else f"udp+tcp, {workers} workers"
    click.echo(f"dns: serving {spec.zone.zone} on {_show(spec.host, port)} ({how})")
    sys.stdout.flush()


def _serve_here(spec: WorkerSpec, port: int) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _serve(spec, 0, port, lambda _h, bound: _ready_line(spec, bound, 1), stop)

    try:
        asyncio.run(run())
    except HttpServerError as err:
        raise click.ClickException(str(err)) from err
    except OSError as err:
        raise click.ClickException(f"cannot listen on {_show(spec.host, port)}: {err}") from err


def _serve_in_workers(spec: WorkerSpec, port: int, workers: int) -> None:
    stopping: list[int] = []
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    previous_fd = signal.set_wakeup_fd(wake_write)
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with count_table(spec, workers) as counted:
            group = worker_group(counted, port, workers, serve_worker)
            try:
                bound = group.start()
            except WorkerError as err:
                where = _show(spec.host, port)
                raise click.ClickException(f"cannot serve on {where}: {err}") from err
            _ready_line(spec, bound, workers)
            try:
                group.supervise(lambda: bool(stopping), wake_read)
            except WorkerError as err:
                raise click.ClickException(str(err)) from err
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)
