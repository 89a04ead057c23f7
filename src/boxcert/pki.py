"""X.509 and key helpers shared by the roles, on top of ``cryptography``."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


class PemError(ValueError):
    """PEM text that does not hold what it should."""


# What cryptography raises for malformed keys and certificates: not only ValueError.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnicodeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
)


def make_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except PARSE_ERRORS as err:
        raise PemError(f"not a PEM private key ({err})") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PemError(f"unsupported key type {type(key).__name__}")
    return key


def spki_der(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(a: object, b: object) -> bool:
    if not isinstance(a, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return False
    if not isinstance(b, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return False
    return spki_der(a) == spki_der(b)


def make_csr(key: PrivateKey, names: Sequence[str]) -> x509.CertificateSigningRequest:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    return builder.sign(key, hashes.SHA256())


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_chain(pem: bytes | str) -> list[x509.Certificate]:
    """Certificates of a PEM bundle, leaf first; PemError when there are none or junk."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise PemError("no PEM certificate found")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except PARSE_ERRORS as err:
        raise PemError(f"unparsable certificate ({err})") from err
    return certs


def chain_pem(certs: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n).lower() for n in san.get_values_for_type(x509.DNSName)]


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def fingerprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


_NOT_SIGNED_BY_ITSELF: tuple[type[Exception], ...] = (*PARSE_ERRORS, InvalidSignature)


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except _NOT_SIGNED_BY_ITSELF:
        return False
    return True


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a CA file); PemError when it holds none or junk."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise PemError("no PEM certificate found")
    try:
        with warnings.catch_warnings():
            # Old roots trip cryptography's strictness warnings; trusting them is the owner's call.
            warnings.simplefilter("ignore")
            return x509.load_pem_x509_certificates(pem)
    except PARSE_ERRORS as err:
        raise PemError(f"unparsable certificate ({err})") from err


def system_roots() -> list[x509.Certificate]:
    """The system's trust store; an unreadable system bundle adds no trust and is skipped."""
    roots: list[x509.Certificate] = []
    for name in SYSTEM_CA_FILES:
        try:
            roots.extend(load_certificates(Path(name).read_bytes()))
        except (OSError, PemError):
            continue
    return roots


def ensure_parsed(chain: Iterable[x509.Certificate]) -> None:
    """Parse now what ``cryptography`` parses lazily (names, extensions, key, validity).

    A certificate that loads may still hold a malformed extension or name that fails only when
    read; this raises PemError for it up front, so later reads of the chain cannot fail.
    """
    for cert in chain:
        try:
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            list(cert.extensions)
            cert.public_key()
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        except PARSE_ERRORS as err:
            raise PemError(f"malformed certificate ({err})") from err


def verify_server_chain(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    name: str,
    now: datetime,
) -> None:
    """Verify ``chain`` (leaf first) for TLS server use under ``name`` at ``now``.

    Raises PemError with the verifier's reason. ``name`` may be any name the leaf covers,
    including one matched by its wildcard.
    """
    if not roots:
        raise PemError("no trusted roots to verify against")
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now.replace(tzinfo=None))
        .build_server_verifier(x509.DNSName(name))
    )
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as err:
        raise PemError(f"chain does not verify: {err}") from err


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one step: temp file made with ``mode``, fsync, rename.

    The file is created with its final permissions, so a key is never readable by others, not
    even for an instant; readers see the old content or the new, never a mix.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
