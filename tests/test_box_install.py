"""box/install: a delivered certificate is checked in full before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from boxcert import codes, pki
from boxcert.box.config import BoxConfig
from boxcert.box.errors import ConfigError, LoadError
from boxcert.box.install import CLOCK_SKEW, trust_roots, validate
from boxcert.wire import Grant
from tests.box_support import names_of
from tests.helpers import LocalTestCA
from tests.test_pki import unknown_key_algorithm

NOW = datetime.now(UTC)
CA = LocalTestCA.create()
KEY = pki.make_ec_key()
NAMES = names_of(KEY)


def grant(chain: list[x509.Certificate] | str) -> Grant:
    pem = chain if isinstance(chain, str) else pki.chain_pem(chain)
    return Grant(x509_pem=pem, subject_cn="x", domain="x", not_after=None)


def leaf(
    public_key: pki.PublicKey | None = None,
    names: Sequence[str] = NAMES,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    public_key = public_key or KEY.public_key()
    return CA.leaf(public_key, names, not_before=not_before, not_after=not_after)


def test_a_good_certificate_passes() -> None:
    good = leaf()
    assert validate(grant([good, CA.cert]), KEY, NAMES, [CA.cert], NOW) == [good, CA.cert]


def test_a_slightly_early_clock_is_tolerated() -> None:
    early = leaf(not_before=NOW + CLOCK_SKEW - timedelta(minutes=1))
    assert validate(grant([early]), KEY, NAMES, [CA.cert], NOW)


BAD: dict[str, tuple[Callable[[], Grant], str]] = {
    "another key": (
        lambda: grant([leaf(public_key=pki.make_ec_key().public_key())]),
        "for another key",
    ),
    "other names": (
        lambda: grant([leaf(names=["*.evil.example", "evil.example"])]),
        "is for *.evil.example, evil.example, not",
    ),
    "one name only": (lambda: grant([leaf(names=NAMES[1:])]), "not"),
    "expired": (
        lambda: grant(
            [leaf(not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=1))]
        ),
        "expired on",
    ),
    "not yet valid": (lambda: grant([leaf(not_before=NOW + timedelta(hours=1))]), "not valid yet"),
    "untrusted root": (
        lambda: grant([LocalTestCA.create("rogue").leaf(KEY.public_key(), NAMES)]),
        "not trusted",
    ),
    "garbage pem": (
        lambda: grant("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "unreadable",
    ),
    "no pem": (lambda: grant("hello"), "unreadable"),
    "unknown key algorithm": (lambda: grant([unknown_key_algorithm(leaf())]), "unreadable"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_certificate_is_refused(case: str) -> None:
    build, message = BAD[case]
    with pytest.raises(LoadError) as caught:
        validate(build(), KEY, NAMES, [CA.cert], NOW)
    assert caught.value.code is codes.LOAD_INVALID_CERT
    assert message in caught.value.detail


def test_trust_roots_adds_the_configured_bundles(tmp_path: Path) -> None:
    path = CA.write(tmp_path / "ca.pem")
    roots = trust_roots(BoxConfig(trust_ca=[str(path)]))
    assert CA.cert in roots
    assert CA.cert not in trust_roots(BoxConfig())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.pem", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: (d / "x.pem").write_text("hello") and d / "x.pem", "holds no usable"),
    ],
    ids=["missing", "directory", "not pem"],
)
def test_an_unreadable_trust_bundle_is_a_config_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        trust_roots(BoxConfig(trust_ca=[str(make(tmp_path))]))
    assert caught.value.field == "trust_ca"
    assert message in str(caught.value)
