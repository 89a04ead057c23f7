"""A router's resolver in front of our DNS server: Debian's dnsmasq and unbound on loopback.

dnsmasq is what most home and shop routers run; ``--stop-dns-rebind`` is their rebinding
protection (public answers pointing at private addresses are dropped: NOERROR, no records).
unbound's equivalent is ``private-address:`` (pfSense, OPNsense).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest

from boxcert.devstack import free_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
needs_dnsmasq = pytest.mark.skipif(not Path(DNSMASQ).exists(), reason="needs dnsmasq")
needs_unbound = pytest.mark.skipif(not Path(UNBOUND).exists(), reason="needs unbound")


class Resolver:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.address = ("127.0.0.1", port)
        self.log_path = log

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _wait(address: tuple[str, int], proc: subprocess.Popen[str], log: Path) -> None:
    for _ in range(200):  # hang guard; both start in well under a second
        if proc.poll() is not None:
            raise RuntimeError(f"resolver exited: {log.read_text()[-1000:]}")
        try:
            dns.query.udp(
                dns.message.make_query("localhost", "A"), address[0], port=address[1], timeout=0.3
            )
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    raise RuntimeError("resolver does not answer")


@contextmanager
def _running(cmd: list[str], port: int, log: Path) -> Iterator[Resolver]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(("127.0.0.1", port), proc, log)
        yield Resolver(proc, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def dnsmasq(zone: str, upstream: tuple[str, int], *flags: str) -> Iterator[Resolver]:
    """dnsmasq forwarding ``zone`` to ``upstream`` and nothing else (no internet here)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="boxcert-dnsmasq-"))
    cmd = [
        DNSMASQ,
        "--keep-in-foreground",
        "--no-daemon",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        f"--server=/{zone}/{upstream[0]}#{upstream[1]}",
        "--pid-file=",
        "--user=root",
        "--log-queries",
        "--log-facility=-",
        *flags,
    ]
    with _running(cmd, port, workdir / "dnsmasq.log") as resolver:
        yield resolver
    shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def unbound(zone: str, upstream: tuple[str, int], extra: Sequence[str] = ()) -> Iterator[Resolver]:
    """unbound resolving ``zone`` from ``upstream`` (a stub zone), with ``extra`` server lines."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="boxcert-unbound-"))
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        f"  port: {port}",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{workdir}"',
        '  pidfile: ""',
        "  use-syslog: no",
        "  do-not-query-localhost: no",
        '  module-config: "iterator"',
        "  access-control: 127.0.0.0/8 allow",
        # RFC 6761 makes .test a local zone in unbound by default; our test zone lives there
        '  local-zone: "test." nodefault',
        *(f"  {line}" for line in extra),
        "stub-zone:",
        f'  name: "{zone}"',
        f"  stub-addr: {upstream[0]}@{upstream[1]}",
    ]
    config = workdir / "unbound.conf"
    config.write_text("\n".join(lines) + "\n")
    with _running([UNBOUND, "-d", "-c", str(config)], port, workdir / "unbound.log") as resolver:
        yield resolver
    shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def zone_server(zone: str) -> Iterator[tuple[str, int]]:
    """Our own authoritative server for ``zone`` on a loopback port (its NS: 127.0.0.1)."""
    import ipaddress

    from boxcert.dns.answer import StaticZoneData, ZoneConfig
    from boxcert.dns.server import DnsServer
    from tests.dns_running import Running

    config = ZoneConfig(zone, ns_addresses=(ipaddress.ip_address("127.0.0.1"),))
    with Running(DnsServer(config, StaticZoneData({}), "127.0.0.1", 0)) as port:
        yield ("127.0.0.1", port)
