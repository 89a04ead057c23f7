"""Certificates follow the subscription with a public-style CA: Pebble (Let's Encrypt's test
CA) and our DNS server run as processes; the issuer runs in-process over a real socket so its
clock can jump the grace period. After the grace period Pebble's management API reports the
certificate revoked (reason cessationOfOperation); the box shows the refusal; reopened, the box
gets a new certificate from Pebble by itself."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from boxcert import devstack, naming
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.dns01 import SqlTxtStore
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.models import SubscriptionState
from boxcert.issuer.service import IssuerService
from boxcert.issuer.site import create_site
from boxcert.issuer.store import accounts
from tests.helpers import BoxHome
from tests.issuer_support import Clock, register, sessions_for
from tests.web_running import serve_app

pytestmark = pytest.mark.skipif(not devstack.pebble_available(), reason="pebble not installed")
ZONE = naming.DEFAULT_ZONE
GRACE = timedelta(days=7)


@pytest.fixture
def pebble_stack(tmp_path: Path) -> Iterator[tuple[devstack.Pebble, tuple[str, int], str]]:
    db_url = f"sqlite:///{tmp_path / 'issuer.sqlite3'}"
    dns, address = devstack.start_dns(db_url, ZONE, tmp_path / "dns")
    try:
        pebble = devstack.start_pebble(tmp_path / "pebble", address)
        try:
            yield pebble, address, db_url
        finally:
            pebble.stop()
    finally:
        dns.stop()


def test_revoked_at_pebble_after_grace_then_back(
    tmp_path: Path, pebble_stack: tuple[devstack.Pebble, tuple[str, int], str]
) -> None:
    pebble, dns_address, db_url = pebble_stack
    clock = Clock()
    sessions = sessions_for(db_url)
    ca = AcmeCA(
        tmp_path / "acme",
        AcmeOptions(
            directory_url=pebble.directory_url,
            ca_bundle=str(pebble.tls_ca),
            dns_servers=(dns_address,),
            propagation_timeout=30,
        ),
        SqlTxtStore(sessions),
    )
    service = IssuerService(
        sessions, ca, IssuerSettings(zone=ZONE, revoke_grace=GRACE), clock=clock
    )
    code = "C-PEBBLE-LIFE-01"
    sub_id = register(sessions, "db-pebble", code, now=clock())
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.root_pem())
    management = ssl.create_default_context(cafile=str(pebble.tls_ca))
    try:
        with serve_app(create_site(service)) as url:
            box = BoxHome(tmp_path / "box")
            box.configure(
                "--server",
                "http://127.0.0.1:8069",
                "--db-uuid",
                "db-pebble",
                "--enterprise-code",
                code,
                "--issuer",
                url,
                "--trust-ca",
                str(root),
            )
            status, report = box.ensure()
            assert status == 0, report
            serial = x509.load_pem_x509_certificate(box.cert_path.read_bytes()).serial_number
            serial_hex = format(serial, "x")

            with sessions.begin() as s:
                accounts.set_subscription_state(s, sub_id, SubscriptionState.CLOSED)
            assert asyncio.run(service.lifecycle.run_once()).started == ["db-pebble"]
            clock.advance(GRACE)
            assert asyncio.run(service.lifecycle.run_once()).revoked == [serial_hex]

            status_at_ca = httpx.get(
                f"{pebble.management_url}/cert-status-by-serial/{serial_hex}", verify=management
            ).json()
            assert status_at_ca["Status"] == "Revoked", status_at_ca
            assert status_at_ca["Reason"] == 5  # RFC 5280 cessationOfOperation

            status, report = box.ensure()
            assert status == 1
            assert report["refusal"]["code"] == "subscription_not_in_progress"
            assert report["certificate"] is None

            with sessions.begin() as s:
                accounts.set_subscription_state(s, sub_id, SubscriptionState.IN_PROGRESS)
            assert asyncio.run(service.lifecycle.run_once()).restored == ["db-pebble"]
            status, report = box.ensure()
            assert status == 0, report
            again = x509.load_pem_x509_certificate(box.cert_path.read_bytes()).serial_number
            assert again != serial
    finally:
        service.close()
