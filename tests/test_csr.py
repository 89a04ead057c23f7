"""CSR checks as a table: each defect gives a BadRequest naming it, never another exception;
valid CSRs give the box's label."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from boxcert import naming, pki
from boxcert.issuer.csr import validate_box_csr
from boxcert.issuer.errors import BadRequest
from tests import csr_forge
from tests.csr_forge import OID_CN, OID_O, Forge, ec_spki, name, rsa_spki, san

ZONE = naming.DEFAULT_ZONE


def _with(**parts: object) -> Callable[[], str]:
    def make() -> str:
        forge = Forge()
        for key, value in parts.items():
            setattr(forge, key, value(forge) if callable(value) else value)
        return forge.pem()

    return make


def _der_mutation(at: int) -> Callable[[], str]:
    def make() -> str:
        der = bytearray(Forge().der())
        der[at] ^= 0xFF
        return csr_forge.pem_of(bytes(der))

    return make


CASES: list[tuple[str, Callable[[], str], str]] = [
    ("not pem", lambda: "hello", "not a PEM certificate request"),
    ("empty pem", lambda: csr_forge.pem_of(b""), "not a PEM certificate request"),
    ("truncated", lambda: csr_forge.pem_of(Forge().der()[:60]), "not a PEM certificate request"),
    ("version 2", _with(version=1), "version is not supported"),
    ("version 4", _with(version=3), "version is not supported"),
    ("unknown signature algorithm", _with(signature_oid="1.2.3.4.5"), "signature algorithm"),
    (
        "duplicate SAN",
        _with(extensions=lambda f: [san(*f.names), san(*f.names)]),
        "extensions are unreadable",
    ),
    (
        "point off the curve",
        _with(spki=ec_spki(b"\x04" + b"\x01" * 64)),
        "public key is unreadable",
    ),
    (
        "compressed garbage point",
        _with(spki=ec_spki(b"\x02" + b"\xff" * 32)),
        "public key is unreadable",
    ),
    ("subject not UTF-8", _with(subject=name((OID_CN, b"\xff\xfe\xfd"))), "subject is unreadable"),
    (
        "two CNs",
        _with(subject=lambda f: name((OID_CN, f.names[0].encode()), (OID_CN, f.names[1].encode()))),
        "more than one CN",
    ),
    ("RSA e=3", _with(spki=rsa_spki((1 << 2047) + 1, 3)), "exponent must be 65537"),
    (
        "RSA huge exponent",
        _with(spki=rsa_spki((1 << 2047) + 1, (1 << 3000) + 1)),
        "public key is unreadable",
    ),
    ("RSA e=65539", _with(spki=rsa_spki((1 << 2047) + 1, 65539)), "exponent must be 65537"),
    ("RSA 8192", _with(spki=rsa_spki((1 << 8191) + 1, 65537)), "too large"),
    ("RSA 1024", _with(spki=rsa_spki((1 << 1023) + 1, 65537)), "too weak"),
    (
        "other names",
        _with(extensions=lambda f: [san(*f.names, "evil.example")]),
        "also asks for evil.example",
    ),
    (
        "many other names",
        _with(extensions=lambda f: [san(*f.names, *(f"x{i}.e" for i in range(50)))]),
        ", …",
    ),
    (
        "no names at all",
        _with(subject=name((OID_O, b"org")), extensions=[]),
        "must ask for exactly",
    ),
    (
        "another box's names",
        _with(extensions=lambda f: [san(*Forge().names)]),
        "must ask for exactly",
    ),
    ("bad signature", _der_mutation(-3), "signature does not verify"),
]


@pytest.mark.parametrize(("case", "make", "message"), CASES, ids=[c[0] for c in CASES])
def test_defects_are_bad_requests(case: str, make: Callable[[], str], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        validate_box_csr(make(), ZONE)
    assert message in str(refused.value), case


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: rsa.generate_private_key(65537, 2048),
        lambda: rsa.generate_private_key(65537, 4096),
    ],
    ids=["P-256", "P-384", "RSA-2048", "RSA-4096"],
)
def test_accepted_keys_give_the_label(make_key: Callable[[], pki.PrivateKey]) -> None:
    key = make_key()
    label = naming.box_label(pki.spki_der(key.public_key()))
    names = list(naming.certificate_names(label, ZONE))
    for asked in (names, names[::-1], [n.upper() for n in names]):
        _, got = validate_box_csr(pki.csr_pem(pki.make_csr(key, asked)), ZONE)
        assert got == label


def test_forged_valid_csr_is_accepted() -> None:
    """The forge's default output is valid, so each case above has exactly its one defect."""
    forge = Forge()
    _, label = validate_box_csr(forge.pem(), ZONE)
    assert forge.names[1] == f"{label}.{ZONE}"
