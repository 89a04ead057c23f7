"""pki: keys, CSRs, chains, verification and atomic writes, on material made at run time."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from boxcert import pki
from tests.box_support import names_of, self_signed
from tests.helpers import LocalTestCA

NOW = datetime.now(UTC)


def test_private_key_round_trip_and_spki() -> None:
    key = pki.make_ec_key()
    again = pki.load_private_key(pki.private_key_pem(key))
    assert pki.spki_der(again.public_key()) == pki.spki_der(key.public_key())
    assert pki.same_public_key(again.public_key(), key.public_key())
    assert not pki.same_public_key(pki.make_ec_key().public_key(), key.public_key())
    assert not pki.same_public_key("not a key", key.public_key())


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ],
    ids=["empty", "garbage", "bad base64 body", "unsupported ed25519"],
)
def test_load_private_key_refuses(pem: bytes) -> None:
    with pytest.raises(pki.PemError):
        pki.load_private_key(pem)


def test_rsa_keys_are_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert isinstance(pki.load_private_key(pki.private_key_pem(key)), rsa.RSAPrivateKey)


def test_csr_carries_the_names_and_is_signed() -> None:
    key = pki.make_ec_key()
    names = names_of(key)
    csr = x509.load_pem_x509_csr(pki.csr_pem(pki.make_csr(key, names)).encode())
    assert csr.is_signature_valid
    assert pki.common_name(csr.subject) == names[0]
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(names)


def test_chain_round_trip_and_names() -> None:
    ca = LocalTestCA.create()
    key = pki.make_ec_key()
    leaf = ca.leaf(key.public_key(), ["*.A.example", "A.example"])
    chain = pki.load_chain(pki.chain_pem([leaf, ca.cert]))
    assert chain == [leaf, ca.cert]
    assert pki.dns_names(leaf) == ["*.a.example", "a.example"]  # lower-cased
    assert pki.dns_names(ca.cert) == []
    assert pki.common_name(ca.cert.subject) == "test root"
    assert pki.common_name(x509.Name([])) == ""
    assert pki.fingerprint_sha256(leaf) == leaf.fingerprint(hashes.SHA256()).hex(":").upper()


@pytest.mark.parametrize(
    "pem",
    [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
    ids=["empty", "no pem", "bad body"],
)
def test_load_chain_refuses(pem: bytes) -> None:
    with pytest.raises(pki.PemError):
        pki.load_chain(pem)
    with pytest.raises(pki.PemError):
        pki.load_certificates(pem)


def test_ensure_parsed_finds_a_malformed_extension() -> None:
    ca = LocalTestCA.create()
    key = pki.make_ec_key()
    broken = (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x05a"
            ),
            False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    chain = pki.load_chain(pki.chain_pem([broken]))  # loads: the extension is parsed lazily
    with pytest.raises(pki.PemError, match="malformed"):
        pki.ensure_parsed(chain)
    pki.ensure_parsed([ca.cert])  # a sound certificate passes


def test_self_signed() -> None:
    key = pki.make_ec_key()
    assert pki.is_self_signed(self_signed(key, names_of(key)))
    ca = LocalTestCA.create()
    assert pki.is_self_signed(ca.cert)
    assert not pki.is_self_signed(ca.leaf(key.public_key(), ["a.example"]))


def test_verify_server_chain() -> None:
    ca = LocalTestCA.create()
    key = pki.make_ec_key()
    leaf = ca.leaf(key.public_key(), ["*.box.example", "box.example"])
    pki.verify_server_chain([leaf], [ca.cert], "box.example", NOW)
    pki.verify_server_chain([leaf], [ca.cert], "192-168-1-5.box.example", NOW)  # the wildcard
    cases = [
        ([ca.cert], "other.example", NOW),  # another name
        ([LocalTestCA.create("rogue").cert], "box.example", NOW),  # another root
        ([], "box.example", NOW),  # no roots at all
        ([ca.cert], "box.example", NOW + timedelta(days=400)),  # expired by then
    ]
    for roots, name, at in cases:
        with pytest.raises(pki.PemError):
            pki.verify_server_chain([leaf], roots, name, at)


def test_load_certificates_reads_a_bundle() -> None:
    one, two = LocalTestCA.create("one"), LocalTestCA.create("two")
    certs = pki.load_certificates(pki.chain_pem([one.cert, two.cert]).encode())
    assert certs == [one.cert, two.cert]


def test_system_roots_are_certificates() -> None:
    assert all(isinstance(c, x509.Certificate) for c in pki.system_roots())


def test_atomic_write_sets_mode_before_content_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "key.pem"
    pki.atomic_write(target, b"first", 0o600)
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    inode = os.stat(target).st_ino
    pki.atomic_write(target, b"second", 0o600)
    assert target.read_bytes() == b"second"
    assert os.stat(target).st_ino != inode  # a new file renamed over the old, not rewritten
    assert sorted(p.name for p in target.parent.iterdir()) == ["key.pem"]  # no temp left


def test_atomic_write_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        pki.atomic_write(tmp_path / "dir", b"data")  # cannot rename a file over a directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def unknown_key_algorithm(cert: x509.Certificate) -> x509.Certificate:
    """The certificate with its key's algorithm OID changed to one nobody knows."""
    der = cert.public_bytes(serialization.Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
    assert der.count(ec_public_key) == 1
    return x509.load_der_x509_certificate(
        der.replace(ec_public_key, bytes.fromhex("06072a8648ce3d0205"))
    )


def test_unknown_key_algorithm_is_a_pem_error() -> None:
    """Found by the hostile-issuer mutations: cryptography raises UnsupportedAlgorithm here."""
    ca = LocalTestCA.create()
    odd = unknown_key_algorithm(ca.leaf(pki.make_ec_key().public_key(), ["a.example"]))
    with pytest.raises(pki.PemError):
        pki.ensure_parsed([odd])
    assert not pki.is_self_signed(odd)
