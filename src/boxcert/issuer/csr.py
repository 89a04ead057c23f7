"""Checking a box's certificate signing request before anything is issued for it.

The CSR is hostile input handed to a parser in native code, read only after the caller proved
it knows the database's contract code. Every way it can be unreadable — not PEM, a version
other than 1, an unknown signature algorithm, a duplicated extension, a point off the curve,
a subject that is not valid UTF-8, anything else the library raises — is a
:class:`~boxcert.issuer.errors.BadRequest` with a message, never a 500.

Accepted: ECDSA P-256 or P-384; RSA of 2048 to 4096 bits with exponent 65537 (as Let's
Encrypt accepts); at most one CN; exactly the two names the key entitles the box to
(``*.<label>.<zone>`` and ``<label>.<zone>``); a signature that verifies. The cheap checks run
first and the signature last, so a refused key never costs a verification.
"""

from __future__ import annotations

import logging

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from boxcert import naming, pki
from boxcert.issuer.errors import BadRequest

log = logging.getLogger(__name__)
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096  # a larger key makes every signature check slow, for nobody's benefit
RSA_EXPONENT = 65537


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(pem.encode("ascii", "replace"))
    except x509.InvalidVersion as err:
        raise BadRequest(f"the CSR's version is not supported ({err})") from err
    except ValueError as err:
        raise BadRequest(f"the CSR is not a PEM certificate request ({err})") from err


def check_key(csr: x509.CertificateSigningRequest) -> pki.PublicKey:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as err:
        raise BadRequest(f"the CSR's public key is unreadable ({err})") from err
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise BadRequest(f"ECDSA curve {key.curve.name} is not accepted; use P-256 or P-384")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BadRequest(f"RSA key of {key.key_size} bits is too weak; use 2048 or more")
        if key.key_size > MAX_RSA_BITS:
            raise BadRequest(f"RSA key of {key.key_size} bits is too large; use 2048 to 4096")
        if key.public_numbers().e != RSA_EXPONENT:
            raise BadRequest(f"RSA public exponent must be {RSA_EXPONENT}")
        return key
    raise BadRequest(f"key type {type(key).__name__} is not accepted; use ECDSA P-256")


def requested_names(csr: x509.CertificateSigningRequest) -> set[str]:
    """The DNS names the CSR asks for: its SAN DNS names and its CN (at most one)."""
    try:
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError as err:  # e.g. a string that is not valid UTF-8
        raise BadRequest(f"the CSR's subject is unreadable ({err})") from err
    if len(cns) > 1:
        raise BadRequest("the CSR's subject has more than one CN")
    try:
        extensions = csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as err:
        raise BadRequest(f"the CSR's extensions are unreadable ({err})") from err
    names: set[str] = set()
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        if any(not isinstance(g, x509.DNSName) for g in san):
            raise BadRequest("the CSR may only ask for DNS names")
        names |= {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    if cns:
        value = cns[0].value
        names.add((value if isinstance(value, str) else value.decode("ascii", "replace")).lower())
    return names


def check_signature(csr: x509.CertificateSigningRequest) -> None:
    try:
        csr.signature_hash_algorithm  # noqa: B018 - reading it checks the algorithm is known
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError) as err:
        raise BadRequest(f"the CSR's signature algorithm is not supported ({err})") from err
    if not valid:
        raise BadRequest("the CSR's signature does not verify")


def validate_box_csr(pem: str, zone: str) -> tuple[x509.CertificateSigningRequest, str]:
    """Check a box's CSR; return it with the box's label (derived from its key)."""
    try:
        csr = parse_csr(pem)
        key = check_key(csr)
        label = naming.box_label(pki.spki_der(key))
        expected = set(naming.certificate_names(label, zone))
        asked = requested_names(csr)
        if asked != expected:
            extra = sorted(asked - expected)
            shown = ", ".join(extra[:3]) + (", …" if len(extra) > 3 else "")
            raise BadRequest(
                "the CSR must ask for exactly "
                + " and ".join(sorted(expected))
                + (f"; it also asks for {shown}" if extra else "")
            )
        check_signature(csr)
    except BadRequest:
        raise
    except Exception as err:
        # Whatever else the parser raises on a hostile CSR is the request's fault, not ours.
        log.info("unreadable CSR: %s: %s", type(err).__name__, err)
        raise BadRequest(f"the CSR is unreadable ({type(err).__name__})") from err
    return csr, label
