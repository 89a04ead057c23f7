"""A development stack on loopback: our DNS server, Debian's Pebble (Let's Encrypt's test CA)
and an issuer wired to them; a hub and a box (``box run``) as processes. Used by
``boxcert demo``, the tests and the benchmarks.

Everything listens on 127.0.0.1 with ports picked at run time; every key is made at run time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from boxcert import pki


class StackError(RuntimeError):
    pass


@dataclass
class Process:
    proc: subprocess.Popen[str]
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _spawn(
    cmd: list[str], log_path: Path, env: dict[str, str] | None = None, *, all_to_log: bool = False
) -> Process:
    """Start ``cmd``; stderr (and stdout too with ``all_to_log``) goes to ``log_path``."""
    log_file = open(log_path, "w")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        cmd,
        stdout=log_file if all_to_log else subprocess.PIPE,
        stderr=log_file,
        text=True,
        env={**os.environ, **(env or {})},
    )
    log_file.close()
    return Process(proc, log_path)


def _await_line(process: Process, prefix: str, timeout: float = 30.0) -> str:
    return _await_lines(process, (prefix,), timeout)[-1]


def _await_lines(process: Process, prefixes: tuple[str, ...], timeout: float = 60.0) -> list[str]:
    """The lines printed up to the first that starts with one of ``prefixes`` (stripped)."""
    assert process.proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    for line in process.proc.stdout:
        seen.append(line.strip())
        if line.startswith(prefixes):
            return seen
        if time.monotonic() > deadline:
            break
    process.stop()
    raise StackError(f"{process.log_path.stem} did not start: {process.log()[-2000:]}")


def _boxcert(*args: str) -> list[str]:
    return [sys.executable, "-m", "boxcert", *args]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tls_files(directory: Path, name: str = "localhost") -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for localhost/127.0.0.1: (ca, cert, key)."""
    import ipaddress

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test TLS root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path = directory / "ca.pem", directory / "cert.pem"
    key_path = directory / "key.pem"
    ca_path.write_text(pki.chain_pem([ca]))
    cert_path.write_text(pki.chain_pem([cert]))
    pki.atomic_write(key_path, pki.private_key_pem(key), 0o600)
    return ca_path, cert_path, key_path


def add_eligible_database(
    data_dir: Path, db_uuid: str, code: str, db_url: str | None = None
) -> None:
    """Register a production database with an in-progress IoT subscription."""
    from boxcert.clock import system_clock
    from boxcert.issuer.db import database_url, open_engine, session_factory
    from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
    from boxcert.issuer.store import accounts, settings

    engine = open_engine(database_url(data_dir, db_url))
    with session_factory(engine).begin() as s:
        now = system_clock()
        codes = settings.contract_codes_of(s)
        sub = accounts.add_subscription(
            s, codes, code, SubscriptionState.IN_PROGRESS, [IOT_BOX_LINE], now
        )
        accounts.add_database(s, db_uuid, DatabaseKind.PRODUCTION, sub.id, now)
    engine.dispose()


def start_dns(db_url: str, zone: str, workdir: Path) -> tuple[Process, tuple[str, int]]:
    """Start ``boxcert dns serve``; the schema is the issuer's to make, so make it first."""
    from boxcert.issuer.db import open_engine

    workdir.mkdir(parents=True, exist_ok=True)
    open_engine(db_url).dispose()
    process = _spawn(
        [
            sys.executable,
            "-m",
            "boxcert",
            "dns",
            "serve",
            "--zone",
            zone,
            "--db",
            db_url,
            "--listen",
            "127.0.0.1:0",
        ],
        workdir / "dns.log",
    )
    line = _await_line(process, "dns: serving ")
    host_port = line.split(" on ", 1)[1].split()[0]
    host, _, port = host_port.rpartition(":")
    return process, (host.strip("[]"), int(port))


@dataclass
class Pebble:
    process: Process
    directory_url: str
    management_url: str
    tls_ca: Path  # verifies Pebble's own HTTPS (ACME and management)
    orders_seen: list[str] = field(default_factory=list)

    def root_pem(self) -> str:
        """The root Pebble issues under (made anew at every Pebble start)."""
        context = ssl.create_default_context(cafile=str(self.tls_ca))
        response = httpx.get(f"{self.management_url}/roots/0", verify=context)
        response.raise_for_status()
        return response.text

    def stop(self) -> None:
        self.process.stop()


def pebble_available() -> bool:
    return shutil.which("pebble") is not None


def start_pebble(
    workdir: Path, dns_server: tuple[str, int], env: dict[str, str] | None = None
) -> Pebble:
    if not pebble_available():
        raise StackError("pebble is not installed (Debian package 'pebble')")
    workdir.mkdir(parents=True, exist_ok=True)
    ca, cert, key = tls_files(workdir / "tls")
    port, management = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config))
    process = _spawn(
        ["pebble", "-config", str(config_path), "-dnsserver", f"{dns_server[0]}:{dns_server[1]}"],
        workdir / "pebble.log",
        env={"PEBBLE_VA_NOSLEEP": "1", **(env or {})},
        all_to_log=True,
    )
    directory_url = f"https://127.0.0.1:{port}/dir"
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise StackError(f"pebble exited: {process.log()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(directory_url, verify=context, timeout=2).status_code == 200:
                    return Pebble(process, directory_url, f"https://127.0.0.1:{management}", ca)
            time.sleep(0.1)
        raise StackError(f"pebble did not answer at {directory_url}: {process.log()[-2000:]}")
    except BaseException:
        process.stop()  # never leave a CA running behind a failed start
        raise


def start_issuer(data_dir: Path, *extra: str) -> tuple[Process, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    process = _spawn(
        [
            sys.executable,
            "-m",
            "boxcert",
            "issuer",
            "serve",
            "--data",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
            *extra,
        ],
        data_dir / "issuer.log",
    )
    line = _await_line(process, "issuer: listening on ")
    return process, line.split()[3]


@dataclass
class HubRun:
    process: Process
    url: str
    password: str  # printed at its first start only ("" later)
    lines: list[str]  # what it printed up to its "listening" line


def start_hub(data_dir: Path, *extra: str) -> HubRun:
    """``boxcert hub serve`` on a free loopback port; its log goes to ``<data>.log``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = _spawn(
        _boxcert("hub", "serve", "--data", str(data_dir), "--listen", "127.0.0.1:0", *extra),
        data_dir.parent / f"{data_dir.name}.log",
    )
    lines = _await_lines(process, ("hub: listening on ",))
    password = next(
        (line.rsplit(": ", 1)[1] for line in lines if line.startswith("hub: admin password")), ""
    )
    return HubRun(process, lines[-1].split()[3], password, lines)


@dataclass
class BoxRun:
    process: Process
    https_port: int
    http_port: int | None
    password: str  # printed at the front's first start only ("" later, or without a front)
    lines: list[str]


def start_box(home: Path, *run_args: str) -> BoxRun:
    """``boxcert box run`` (ports from ``run_args``; 0 picks free ones); waits until it serves.
    Its console log goes to ``<home>-run.log``."""
    process = _spawn(
        _boxcert("box", "--home", str(home), "run", *run_args),
        home.parent / f"{home.name}-run.log",
    )
    lines = _await_lines(process, ("box: listening on ", "box: running without", "box: nginx"))
    password = next(
        (line.rsplit(": ", 1)[1] for line in lines if line.startswith("The box password")), ""
    )
    words = lines[-1].split()
    if words[1] == "nginx":  # box: nginx serves https port N; …
        return BoxRun(process, int(words[5].rstrip(";")), None, password, lines)
    if words[1] != "listening":
        return BoxRun(process, 0, None, password, lines)
    http = int(words[5].rsplit(":", 1)[1]) if len(words) > 5 else None
    return BoxRun(process, int(words[3].rsplit(":", 1)[1]), http, password, lines)


@dataclass
class AcmeStack:
    """DNS server + Pebble + an issuer using them, sharing one issuer database."""

    dns: Process
    dns_address: tuple[str, int]
    pebble: Pebble
    issuer: Process
    issuer_url: str
    data_dir: Path
    root_path: Path  # Pebble's root, for the box's --trust-ca
    issuer_args: tuple[str, ...] = ()  # to start more issuers on the same database

    def stop(self) -> None:
        for part in (self.issuer, self.pebble, self.dns):
            part.stop()


def start_acme_stack(
    workdir: Path,
    zone: str,
    *,
    pebble_env: dict[str, str] | None = None,
    issuer_args: tuple[str, ...] = (),
    db_url: str | None = None,
) -> AcmeStack:
    """Start the stack; ``db_url`` (e.g. PostgreSQL) replaces the SQLite file in the data dir."""
    data_dir = workdir / "issuer"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{(data_dir / 'issuer.sqlite3').resolve()}"
    dns, address = start_dns(db_url, zone, workdir / "dns")
    pebble = issuer = None
    try:
        pebble = start_pebble(workdir / "pebble", address, pebble_env)
        args = (
            "--db",
            db_url,
            "--zone",
            zone,
            "--ca",
            "acme",
            "--acme-directory",
            pebble.directory_url,
            "--acme-ca-bundle",
            str(pebble.tls_ca),
            "--dns-server",
            f"{address[0]}:{address[1]}",
            *issuer_args,
        )
        issuer, url = start_issuer(data_dir, *args)
        root_path = workdir / "pebble-root.pem"
        root_path.write_text(pebble.root_pem())
    except BaseException:
        for part in (issuer, pebble, dns):
            if part is not None:
                part.stop()
        raise
    return AcmeStack(dns, address, pebble, issuer, url, data_dir, root_path, args)
