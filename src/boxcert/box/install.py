"""Validating a delivered certificate, then installing it atomically.

Nothing is written until every check passes, so a bad answer leaves the previous certificate in
place and serving.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from boxcert import codes, pki
from boxcert.box.client import LoadError
from boxcert.box.config import BoxConfig, BoxPaths
from boxcert.wire import Grant

CLOCK_SKEW = timedelta(minutes=5)


def _invalid(detail: str) -> LoadError:
    return LoadError(codes.LOAD_INVALID_CERT, detail)


def trust_roots(config: BoxConfig) -> list[x509.Certificate]:
    return pki.load_roots([Path(p) for p in config.trust_ca], system=True)


def validate(
    grant: Grant,
    key: pki.PrivateKey,
    names: tuple[str, str],
    roots: list[x509.Certificate],
    now: datetime,
) -> list[x509.Certificate]:
    """The delivered chain, leaf first, if it is fit to serve; else LoadError."""
    try:
        return _validate(grant, key, names, roots, now)
    except (ValueError, TypeError) as err:
        # cryptography parses extensions lazily: a malformed one surfaces only here.
        raise _invalid(f"the delivered certificate is unreadable: {err}") from err


def _validate(
    grant: Grant,
    key: pki.PrivateKey,
    names: tuple[str, str],
    roots: list[x509.Certificate],
    now: datetime,
) -> list[x509.Certificate]:
    chain = pki.load_chain(grant.x509_pem)  # PemError is a ValueError: see validate()
    leaf = chain[0]
    if not pki.same_public_key(leaf.public_key(), key.public_key()):
        raise _invalid("the delivered certificate is for another key")
    got = sorted(pki.dns_names(leaf))
    if set(got) != set(names):
        raise _invalid(f"the delivered certificate is for {', '.join(got) or 'no names'}, "
                       f"not {' and '.join(names)}")
    if now >= leaf.not_valid_after_utc:
        raise _invalid(f"the delivered certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if now + CLOCK_SKEW < leaf.not_valid_before_utc:
        raise _invalid("the delivered certificate is not valid yet (is the box's clock right?)")
    try:
        # Verify at a time inside the validity, so a slightly early clock is not fatal here.
        at = max(now, leaf.not_valid_before_utc)
        pki.verify_server_chain(chain, roots, names[1], at)
    except pki.PemError as err:
        raise _invalid(f"the delivered certificate is not trusted: {err}") from err
    return chain


def install(paths: BoxPaths, chain: list[x509.Certificate]) -> None:
    """Replace the certificate file in one rename; the key file is never touched here."""
    pki.atomic_write(paths.cert, pki.chain_pem(chain).encode("ascii"), 0o644)
