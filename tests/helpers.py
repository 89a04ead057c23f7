"""Test helpers: real processes on loopback, keys and CAs made at run time."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from boxcert import devstack, pki
from boxcert.cli import main

IOT_LINE = "IoT Box Subscription"


def cli(*args: str, input: str | None = None, stdout_only: bool = False) -> tuple[int, str]:
    """Run the real ``boxcert`` CLI in-process; return exit code and output (stdout and
    stderr interleaved, or stdout alone for output a program would parse)."""
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout if stdout_only else result.output


def cli_json(*args: str) -> tuple[int, Any]:
    code, out = cli(*args, stdout_only=True)
    return code, json.loads(out)


@dataclass
class IssuerProcess:
    """A real ``boxcert issuer serve`` process (started by devstack), with test conveniences."""

    data_dir: Path
    url: str
    process: devstack.Process

    @property
    def root_pem(self) -> Path:
        return self.data_dir / "ca" / "root.pem"

    def admin(self, *args: str) -> str:
        group, verb, *rest = args
        code, out = cli("issuer", group, verb, "--data", str(self.data_dir), *rest)
        assert code == 0, out
        return out

    def add_eligible(self, db_uuid: str, code: str) -> None:
        self.admin(
            "subscription", "add", "--code", code, "--state", "in_progress", "--line", IOT_LINE
        )
        self.admin(
            "database", "add", "--uuid", db_uuid, "--kind", "production", "--subscription", code
        )

    def post(self, body: Any, path: str = "/iot/x509", **kw: Any) -> httpx.Response:
        with httpx.Client(timeout=30) as c:
            if isinstance(body, bytes | str):
                return c.post(self.url + path, content=body, **kw)
            return c.post(self.url + path, json=body, **kw)

    def log(self) -> str:
        return self.process.log()

    def grants(self) -> int:
        """Certificates handed out so far, by every worker, read from ``/metrics`` (the access
        log is written in batches, so counting its lines races with its flush)."""
        with httpx.Client(timeout=30) as c:
            text = c.get(self.url + "/metrics").text
        return round(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("boxcert_issuer_grants_total{")
            )
        )

    def settle(self) -> None:
        """Wait out the issuer's staleness bound after a change made by another process (the
        command line): from then on every answer reflects it (boxcert.issuer.hotcache)."""
        from boxcert.issuer.hotcache import STALE_BOUND

        time.sleep(STALE_BOUND)

    def stop(self) -> None:
        self.process.stop()


def start_issuer(data_dir: Path, *extra: str) -> IssuerProcess:
    process, url = devstack.start_issuer(data_dir, *extra)
    return IssuerProcess(data_dir, url, process)


# --- a certificate authority of the test's own, for TLS servers and crafted answers --------


@dataclass
class LocalTestCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "test root") -> LocalTestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def write(self, path: Path) -> Path:
        path.write_text(pki.chain_pem([self.cert]))
        return path

    def leaf(
        self,
        public_key: Any,
        dns_names: Sequence[str] = (),
        ips: Sequence[str] = (),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        import ipaddress

        now = datetime.now(UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cn = dns_names[0] if dns_names else (ips[0] if ips else "leaf")
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(not_after or now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def server_files(
        self, directory: Path, ips: Sequence[str] = ("127.0.0.1",)
    ) -> tuple[Path, Path]:
        """A TLS certificate and key for a loopback server, made now, key 0600."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(key.public_key(), dns_names=["localhost"], ips=ips)
        cert_path, key_path = directory / "tls.pem", directory / "tls.key"
        cert_path.write_text(pki.chain_pem([cert]))
        pki.atomic_write(key_path, pki.private_key_pem(key), 0o600)
        return cert_path, key_path


@dataclass
class BoxHome:
    """A box agent driven through the real CLI, its state in ``home``."""

    home: Path

    def run(self, *args: str) -> tuple[int, str]:
        return cli("box", "--home", str(self.home), *args)

    def configure(self, *args: str) -> None:
        code, out = self.run("configure", *args)
        assert code == 0, out

    def ensure(self) -> tuple[int, dict[str, Any]]:
        code, out = cli("box", "--home", str(self.home), "ensure", "--json", stdout_only=True)
        return code, json.loads(out)

    def status(self) -> tuple[int, dict[str, Any]]:
        code, out = cli("box", "--home", str(self.home), "status", "--json", stdout_only=True)
        return code, json.loads(out)

    @property
    def cert_path(self) -> Path:
        return self.home / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.home / "key.pem"

    def log(self) -> str:
        p = self.home / "box.log"
        return p.read_text() if p.exists() else ""

    def files(self) -> tuple[bytes, bytes]:
        return self.cert_path.read_bytes(), self.key_path.read_bytes()


def configured_box(home: Path, issuer: IssuerProcess, db_uuid: str, code: str) -> BoxHome:
    box = BoxHome(home)
    box.configure(
        "--server",
        "http://127.0.0.1:8069",
        "--db-uuid",
        db_uuid,
        "--enterprise-code",
        code,
        "--issuer",
        issuer.url,
        "--trust-ca",
        str(issuer.root_pem),
    )
    return box
