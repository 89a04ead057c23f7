"""The self-signed placeholder the front serves until the box has a real certificate.

Made on the box the first time it is needed: its own key (never the box's identity key, so a
placeholder can never be mistaken for the box's name), written 0600 from the first byte, and a
certificate that says what it is. Browsers warn about it; the homepage explains why. A
placeholder past its end is made again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from boxcert import pki

log = logging.getLogger(__name__)

SUBJECT = "boxcert placeholder (no certificate yet)"
LIFETIME = timedelta(days=365)


def placeholder_paths(state_dir: Path) -> tuple[Path, Path]:
    return state_dir / "placeholder.key", state_dir / "placeholder.pem"


def ensure_placeholder(state_dir: Path, now: datetime) -> tuple[Path, Path]:
    """The placeholder's (key, certificate) files, made or remade when missing, unreadable
    or expired."""
    key_path, cert_path = placeholder_paths(state_dir)
    try:
        key = pki.load_private_key(key_path.read_bytes())
        leaf = pki.load_chain(cert_path.read_bytes())[0]
        if pki.same_public_key(leaf.public_key(), key.public_key()) and (
            now < leaf.not_valid_after_utc - timedelta(days=1)
        ):
            return key_path, cert_path
    except (OSError, ValueError):
        pass  # missing or damaged: make a new one below
    key = pki.make_ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SUBJECT)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pki.atomic_write(key_path, pki.private_key_pem(key), 0o600)
    pki.atomic_write(cert_path, pki.chain_pem([cert]).encode("ascii"), 0o644)
    log.info("made a self-signed placeholder certificate in %s", cert_path)
    return key_path, cert_path
