"""Checking a box's certificate signing request before anything is issued for it."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from boxcert import naming, pki
from boxcert.issuer.errors import BadRequest

ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048


def parse_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii", "replace"))
    except ValueError as err:
        raise BadRequest(f"the CSR is not a PEM certificate request ({err})") from err
    if not csr.is_signature_valid:
        raise BadRequest("the CSR's signature does not verify")
    return csr


def check_key(csr: x509.CertificateSigningRequest) -> pki.PublicKey:
    try:
        key = csr.public_key()
    except ValueError as err:
        raise BadRequest(f"the CSR's public key is unreadable ({err})") from err
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise BadRequest(f"ECDSA curve {key.curve.name} is not accepted; use P-256 or P-384")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BadRequest(f"RSA key of {key.key_size} bits is too weak; use 2048 or more")
        return key
    raise BadRequest(f"key type {type(key).__name__} is not accepted; use ECDSA P-256")


def requested_names(csr: x509.CertificateSigningRequest) -> set[str]:
    names = set()
    try:
        extensions = csr.extensions
    except ValueError as err:  # a malformed or duplicated extension
        raise BadRequest(f"the CSR's extensions are unreadable ({err})") from err
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names |= {n.lower() for n in san.get_values_for_type(x509.DNSName)}
        others = [g for g in san if not isinstance(g, x509.DNSName)]
        if others:
            raise BadRequest("the CSR may only ask for DNS names")
    except x509.ExtensionNotFound:
        pass
    cn = pki.common_name(csr.subject).lower()
    if cn:
        names.add(cn)
    return names


def validate_box_csr(pem: str, zone: str) -> tuple[x509.CertificateSigningRequest, str]:
    """Check a box's CSR; return it with the box's label (derived from its key).

    The CSR must be signed by its key, use an accepted key, and ask for exactly the two names
    its key entitles it to: ``*.<label>.<zone>`` and ``<label>.<zone>``.
    """
    csr = parse_csr(pem)
    key = check_key(csr)
    label = naming.box_label(pki.spki_der(key))
    expected = set(naming.certificate_names(label, zone))
    asked = requested_names(csr)
    if asked != expected:
        extra = sorted(asked - expected)
        raise BadRequest(
            "the CSR must ask for exactly "
            + " and ".join(sorted(expected))
            + (f"; it also asks for {', '.join(extra)}" if extra else "")
        )
    return csr, label
