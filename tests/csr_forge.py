"""Hand-built certificate requests for the cases cryptography's builder refuses to make.

A tiny DER encoder puts a CSR together from parts (version, subject, key, extensions,
signature algorithm) and signs it with a real key, so each forged CSR carries exactly one
defect: a wrong version, a duplicated extension, a point off the curve, bytes that are not
UTF-8 in the subject, an unknown signature algorithm, an RSA key with a bad exponent...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from boxcert import naming, pki

ZONE = naming.DEFAULT_ZONE

OID_CN = "2.5.4.3"
OID_O = "2.5.4.10"
OID_SAN = "2.5.29.17"
OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"
OID_RSA = "1.2.840.113549.1.1.1"


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(parts))


def integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, body)


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def utf8(raw: bytes) -> bytes:
    return tlv(0x0C, raw)


def octets(body: bytes) -> bytes:
    return tlv(0x04, body)


def bits(body: bytes) -> bytes:
    return tlv(0x03, b"\x00" + body)


def name(*attributes: tuple[str, bytes]) -> bytes:
    return seq(*(set_of(seq(oid(o), utf8(v))) for o, v in attributes))


def san(*names: str) -> bytes:
    return seq(oid(OID_SAN), octets(seq(*(tlv(0x82, n.encode()) for n in names))))


def ec_spki(point: bytes) -> bytes:
    return seq(seq(oid(OID_EC_PUBLIC_KEY), oid(OID_P256)), bits(point))


def rsa_spki(n: int, e: int) -> bytes:
    return seq(seq(oid(OID_RSA), tlv(0x05, b"")), bits(seq(integer(n), integer(e))))


@dataclass
class Forge:
    """The parts of a CSR; defaults make a valid box CSR for a fresh P-256 key."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    version: int = 0
    subject: bytes | None = None
    spki: bytes | None = None
    extensions: Sequence[bytes] | None = None
    signature_oid: str = OID_ECDSA_SHA256

    @property
    def names(self) -> tuple[str, str]:
        label = naming.box_label(pki.spki_der(self.key.public_key()))
        return naming.certificate_names(label, ZONE)

    def der(self) -> bytes:
        subject = (
            self.subject if self.subject is not None else name((OID_CN, self.names[0].encode()))
        )
        spki = (
            self.spki
            if self.spki is not None
            else self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        extensions = self.extensions if self.extensions is not None else [san(*self.names)]
        attributes = tlv(0xA0, seq(oid(OID_EXTENSION_REQUEST), set_of(seq(*extensions))))
        info = seq(integer(self.version), subject, spki, attributes)
        signature = self.key.sign(info, ec.ECDSA(hashes.SHA256()))
        return seq(info, seq(oid(self.signature_oid)), bits(signature))

    def pem(self) -> str:
        return pem_of(self.der())


def pem_of(der: bytes) -> str:
    import base64

    b64 = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"
