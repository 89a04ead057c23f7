"""Debian's PowerDNS (pdns-server, gsqlite3 backend) serving the IoT zone, started by a test."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest

from boxcert.devstack import free_port
from boxcert.dns.powerdns import zone_file

PDNS = shutil.which("pdns_server") or "/usr/sbin/pdns_server"
PDNSUTIL = shutil.which("pdnsutil") or "/usr/bin/pdnsutil"
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
KEY_NAME = "boxcert-issuer"

needs_powerdns = pytest.mark.skipif(
    not (Path(PDNS).exists() and SCHEMA.exists()),
    reason="needs Debian's pdns-server and pdns-backend-sqlite3",
)


@dataclass
class PowerDns:
    address: tuple[str, int]
    key_file: Path  # BIND format, allowed to update the zone
    directory: Path

    def log(self) -> str:
        path = self.directory / "pdns.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _pdnsutil(config_dir: Path, *args: str) -> None:
    subprocess.run(
        [PDNSUTIL, f"--config-dir={config_dir}", *args], check=True, capture_output=True, text=True
    )


@contextmanager
def powerdns(directory: Path, zone: str) -> Iterator[PowerDns]:
    """PowerDNS on a free loopback port, authoritative for ``zone`` from our zone file, with a
    fresh TSIG key allowed to update it."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "pdns.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.executescript(SCHEMA.read_text())
    port = free_port()
    (directory / "pdns.conf").write_text(
        "launch=gsqlite3\n"
        f"gsqlite3-database={database}\n"
        f"local-address=127.0.0.1\nlocal-port={port}\n"
        "enable-lua-records=yes\n"
        "dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\n"
        f"socket-dir={directory}\n"
        "guardian=no\ndaemon=no\ndisable-syslog=yes\nwrite-pid=no\n"
        "security-poll-suffix=\n"
        # answers must change as soon as an update lands: no packet or query cache
        "cache-ttl=0\nnegquery-cache-ttl=0\nquery-cache-ttl=0\nzone-cache-refresh-interval=0\n"
    )
    zone_path = directory / "zone.txt"
    zone_path.write_text(zone_file(zone))
    _pdnsutil(directory, "load-zone", zone, str(zone_path))
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    _pdnsutil(directory, "import-tsig-key", KEY_NAME, "hmac-sha256", secret)
    _pdnsutil(directory, "set-meta", zone, "TSIG-ALLOW-DNSUPDATE", KEY_NAME)
    key_file = directory / "tsig.key"
    fd = os.open(key_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n')
    log = (directory / "pdns.log").open("w")
    proc = subprocess.Popen(
        [PDNS, f"--config-dir={directory}"], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    try:
        _wait_until_answering(("127.0.0.1", port), zone, proc)
        yield PowerDns(("127.0.0.1", port), key_file, directory)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_answering(
    address: tuple[str, int],
    zone: str,
    proc: subprocess.Popen[bytes],
) -> None:
    for _ in range(200):  # a hang guard, not a time bound: PowerDNS starts in well under 1 s
        if proc.poll() is not None:
            raise RuntimeError("pdns_server exited at start")
        try:
            dns.query.udp(
                dns.message.make_query(zone, "SOA"), address[0], port=address[1], timeout=0.5
            )
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    raise RuntimeError("pdns_server does not answer")
