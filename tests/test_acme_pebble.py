"""Publicly-trusted path, end to end: box → issuer → Pebble (ACME) → our DNS server (DNS-01).

Pebble is Debian's build of Let's Encrypt's test CA. It validates DNS-01 by asking our own
authoritative DNS server (``-dnsserver``), which reads the TXT values the issuer publishes.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from sqlalchemy import func, select

from boxcert import devstack, naming
from boxcert.issuer.db import database_url, open_engine
from boxcert.issuer.models import Certificate
from boxcert.storage.txt import TxtRecord
from tests.helpers import IOT_LINE, BoxHome, cli

pytestmark = pytest.mark.skipif(not devstack.pebble_available(), reason="pebble not installed")
ZONE = naming.DEFAULT_ZONE


def _admin(stack: devstack.AcmeStack, db_uuid: str, code: str) -> None:
    data = str(stack.data_dir)
    assert (
        cli("issuer", "subscription", "add", "--data", data, "--code", code, "--line", IOT_LINE)[0]
        == 0
    )
    assert (
        cli("issuer", "database", "add", "--data", data, "--uuid", db_uuid, "--subscription", code)[
            0
        ]
        == 0
    )


def _stack(tmp_path: Path, **kw: Any) -> Iterator[devstack.AcmeStack]:
    stack = devstack.start_acme_stack(tmp_path, ZONE, **kw)
    try:
        _admin(stack, "db-1", "CODE-1")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[devstack.AcmeStack]:
    yield from _stack(tmp_path)


def _rows(stack: devstack.AcmeStack, model: Any) -> int:
    engine = open_engine(database_url(stack.data_dir, None))
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return int(count or 0)


def _box(tmp_path: Path, stack: devstack.AcmeStack) -> BoxHome:
    box = BoxHome(tmp_path / "box")
    box.configure(
        "--server",
        "http://127.0.0.1:8069",
        "--db-uuid",
        "db-1",
        "--enterprise-code",
        "CODE-1",
        "--issuer",
        stack.issuer_url,
        "--trust-ca",
        str(stack.root_path),
    )
    return box


def _openssl_verify(tmp_path: Path, chain_pem: str, root: Path) -> subprocess.CompletedProcess[str]:
    end = "-----END CERTIFICATE-----\n"
    parts = [p + end for p in chain_pem.split(end) if p.strip()]
    (tmp_path / "leaf.pem").write_text(parts[0])
    (tmp_path / "chain.pem").write_text("".join(parts[1:]))
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(root),
            "-untrusted",
            str(tmp_path / "chain.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_box_gets_acme_certificate(tmp_path: Path, stack: devstack.AcmeStack) -> None:
    box = _box(tmp_path, stack)
    code, report = box.ensure()
    assert code == 0, (report, stack.issuer.log()[-3000:])
    assert report["certificate"]["issuer"] != "boxcert intermediate"  # Pebble's, not ours
    verified = _openssl_verify(tmp_path, box.cert_path.read_text(), stack.root_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _rows(stack, TxtRecord) == 0  # challenge records were cleaned up


def test_issuance_survives_heavy_nonce_rejection(tmp_path: Path) -> None:
    for stack in _stack(tmp_path, pebble_env={"PEBBLE_WFE_NONCEREJECT": "50"}):
        for n in range(2):  # two orders: ~16 signed requests, so rejections surely happen
            code, report = _box(tmp_path / str(n), stack).ensure()
            assert code == 0, (report, stack.issuer.log()[-3000:])
        assert "ACME badNonce, retrying" in stack.issuer.log()


def test_concurrent_requests_make_one_order(tmp_path: Path, stack: devstack.AcmeStack) -> None:
    body = {"params": {"db_uuid": "db-1", "enterprise_code": "CODE-1"}}

    def ask(_: int) -> str:
        with httpx.Client(timeout=120) as client:
            result = client.post(stack.issuer_url + "/iot/x509", json=body).json()["result"]
        return str(result["x509_pem"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(ask, range(50)))
    assert len(set(answers)) == 1
    assert _rows(stack, Certificate) == 1
    # counted at the CA too: Pebble logs each order it adds
    assert stack.pebble.process.log().count("Added order") == 1


def test_acme_refusal_is_clear_when_dns_cannot_validate(tmp_path: Path) -> None:
    """Our DNS server is down: the issuer gives up after --dns-wait; the box learns it is on the
    vendor's side (with a reference), the vendor's log says why."""
    for stack in _stack(tmp_path, issuer_args=("--dns-wait", "3")):
        box = _box(tmp_path, stack)
        stack.dns.stop()  # the CA now cannot reach our DNS server
        code, report = box.ensure()
        assert code == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
        assert report["detail"].startswith("ca_failed:")
        assert "did not serve" not in report["detail"] and "127.0.0.1" not in report["detail"]
        reference = report["detail"].split("(reference ", 1)[1].split(")", 1)[0]
        logged = [line for line in stack.issuer.log().splitlines() if reference in line]
        assert logged and "did not serve _acme-challenge." in logged[0]
        assert _rows(stack, TxtRecord) == 0  # cleaned up after failure too


def test_revoke_at_the_ca(tmp_path: Path, stack: devstack.AcmeStack) -> None:
    box = _box(tmp_path, stack)
    assert box.ensure()[0] == 0
    domain = box.status()[1]["certificate"]["sans"][1]
    serial = format(x509.load_pem_x509_certificate(box.cert_path.read_bytes()).serial_number, "x")
    acme = (
        "--ca",
        "acme",
        "--acme-directory",
        stack.pebble.directory_url,
        "--acme-ca-bundle",
        str(stack.pebble.tls_ca),
    )
    code, out = cli("issuer", "revoke", "--data", str(stack.data_dir), "--domain", domain, *acme)
    assert code == 0, out
    assert f"revoked {serial}" in out
    status = httpx.get(
        f"{stack.pebble.management_url}/cert-status-by-serial/{serial}",
        verify=ssl.create_default_context(cafile=str(stack.pebble.tls_ca)),
    )
    assert status.json()["Status"] == "Revoked"
    # nothing valid is left for that name
    code, out = cli("issuer", "revoke", "--data", str(stack.data_dir), "--domain", domain, *acme)
    assert code == 1 and "no valid certificate" in out
    # and the local CA, which this issuer never used, is not made by asking
    code, out = cli("issuer", "revoke", "--data", str(stack.data_dir), "--domain", domain)
    assert code == 1 and "there is no local CA" in out
    # the box asking again gets a new certificate, not the revoked one
    box.cert_path.unlink()
    assert box.ensure()[0] == 0
    new_serial = x509.load_pem_x509_certificate(box.cert_path.read_bytes()).serial_number
    assert format(new_serial, "x") != serial


def test_weekly_cap_refuses_before_the_ca_would(tmp_path: Path) -> None:
    for stack in _stack(tmp_path, issuer_args=("--weekly-cap", "1")):
        assert _box(tmp_path, stack).ensure()[0] == 0
        other = BoxHome(tmp_path / "box2")
        other.configure(
            "--server",
            "http://127.0.0.1:8069",
            "--db-uuid",
            "db-1",
            "--enterprise-code",
            "CODE-1",
            "--issuer",
            stack.issuer_url,
            "--trust-ca",
            str(stack.root_path),
        )
        code, report = other.ensure()
        assert code == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
        assert report["detail"].startswith("ca_rate_limited:")
        assert stack.pebble.process.log().count("Added order") == 1
