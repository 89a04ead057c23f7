"""Is a delivered certificate fit to install? Checked in full before anything is written.

:func:`validate` turns a grant into the chain to install, or raises LoadError
(``ERR_IOT_HTTPS_LOAD_INVALID_CERT``) with what is wrong: unreadable, for another key or other
names, expired or not yet valid, or not chaining to a trusted root for the box's name. Only a
chain that passes reaches :func:`boxcert.box.pair.install_pair`, so a bad answer leaves the
previous pair in place and serving.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from boxcert import codes, pki
from boxcert.box.advice import for_untrusted_chain
from boxcert.box.config import BoxConfig
from boxcert.box.errors import BoxFileError, ConfigError, LoadError
from boxcert.box.files import TRUST_FILE_BYTES, read_bounded
from boxcert.wire import Grant

CLOCK_SKEW = timedelta(minutes=5)


def _invalid(detail: str) -> LoadError:
    return LoadError(codes.LOAD_INVALID_CERT, detail)


def trust_roots(config: BoxConfig) -> list[x509.Certificate]:
    """The system's roots and each configured ``trust_ca`` bundle; one that cannot be read is
    a ConfigError, not silently less trust."""
    roots = pki.system_roots()
    for name in config.trust_ca:
        try:
            roots.extend(pki.load_certificates(read_bounded(Path(name), TRUST_FILE_BYTES)))
        except FileNotFoundError as err:
            raise ConfigError({"trust_ca": f"{name} does not exist"}) from err
        except BoxFileError as err:
            raise ConfigError({"trust_ca": str(err)}) from err
        except pki.PemError as err:
            raise ConfigError({"trust_ca": f"{name} holds no usable certificate ({err})"}) from err
    return roots


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
    except pki.PARSE_ERRORS as err:
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
    pki.ensure_parsed(chain)
    leaf = chain[0]
    if not pki.same_public_key(leaf.public_key(), key.public_key()):
        raise _invalid("the delivered certificate is for another key")
    got = sorted(pki.dns_names(leaf))
    if set(got) != set(names):
        raise _invalid(
            f"the delivered certificate is for {', '.join(got) or 'no names'}, "
            f"not {' and '.join(names)}"
        )
    if now >= leaf.not_valid_after_utc:
        raise _invalid(f"the delivered certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if now + CLOCK_SKEW < leaf.not_valid_before_utc:
        raise _invalid("the delivered certificate is not valid yet (is the box's clock right?)")
    try:
        # Verify at a time inside the validity, so a slightly early clock is not fatal here.
        at = max(now, leaf.not_valid_before_utc)
        pki.verify_server_chain(chain, roots, names[1], at)
    except pki.PemError as err:
        raise LoadError(
            codes.LOAD_INVALID_CERT,
            f"the delivered certificate is not trusted: {err}",
            advice=for_untrusted_chain(chain, roots),
        ) from err
    return chain
