"""Pieces of the ACME backend that Debian's Pebble (2.4) cannot exercise: ARI and rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from boxcert import pki
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.acme_client import PatientNetwork, ari_cert_id, parse_retry_after
from boxcert.issuer.errors import CertificateAuthorityError, RateLimited


def _cert(serial: int, key_id: bytes) -> x509.Certificate:
    key = pki.make_ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(key_id, None, None), False)
        .sign(key, hashes.SHA256())
    )


def test_ari_cert_id_matches_rfc_9773_example() -> None:
    # RFC 9773 §4.1: keyIdentifier 69:88:5B:…:D4 and serial 0x0087654321
    key_id = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert ari_cert_id(_cert(0x87654321, key_id)) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


class _NoTxt:
    def publish(self, name: str, value: str) -> None:
        raise AssertionError("not used")

    def remove(self, name: str, value: str) -> None:
        raise AssertionError("not used")


@pytest.fixture
def ca(tmp_path: Path) -> AcmeCA:
    return AcmeCA(tmp_path, AcmeOptions("https://acme.invalid/dir"), _NoTxt())


def test_account_key_is_made_once_and_private(tmp_path: Path, ca: AcmeCA) -> None:
    files = list(tmp_path.glob("account-*.json"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    again = AcmeCA(tmp_path, AcmeOptions("https://acme.invalid/dir"), _NoTxt())
    assert again._key.thumbprint() == ca._key.thumbprint()


def test_rate_limited_carries_retry_after(ca: AcmeCA) -> None:
    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = "3600"

    def fn(nets: list[PatientNetwork]) -> None:
        net = PatientNetwork(None)
        net.last_response = response
        nets.append(net)
        raise messages.Error.with_code("rateLimited", detail="too many certificates")

    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        ca._translated(fn)
    assert caught.value.retry_after is not None
    assert timedelta(minutes=59) < caught.value.retry_after - before < timedelta(minutes=61)
    assert "too many certificates" in str(caught.value)


def test_other_ca_errors_become_clear_failures(ca: AcmeCA) -> None:
    def fn(nets: list[PatientNetwork]) -> None:
        raise messages.Error.with_code("rejectedIdentifier", detail="name not allowed")

    with pytest.raises(CertificateAuthorityError, match="rejectedIdentifier: name not allowed"):
        ca._translated(fn)

    def unreachable(nets: list[PatientNetwork]) -> None:
        raise requests.ConnectionError("connection refused")

    with pytest.raises(CertificateAuthorityError, match="unreachable"):
        ca._translated(unreachable)


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == now + timedelta(minutes=2)
    assert parse_retry_after("Thu, 26 Nov 2026 13:00:00 GMT", now) == now + timedelta(hours=1)
    assert parse_retry_after("99999999999", now) == now + timedelta(days=7)  # capped
    assert parse_retry_after("soon", now) is None
