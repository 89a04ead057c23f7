"""The certificate switch on its own: what counts as trusted, the placeholder, damaged pairs."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import pki
from boxcert.box.front.certswitch import CertificateSwitch, PairError, ServedPair, load_pair
from boxcert.box.front.placeholder import ensure_placeholder
from tests.front_support import BoxIdentity
from tests.helpers import LocalTestCA

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("placeholder", "self_signed", "start", "end", "trusted"),
    [
        (False, False, NOW - DAY, NOW + DAY, True),
        (True, True, NOW - DAY, NOW + DAY, False),
        (False, True, NOW - DAY, NOW + DAY, False),
        (False, False, NOW - 2 * DAY, NOW - DAY, False),  # expired
        (False, False, NOW + DAY, NOW + 2 * DAY, False),  # not yet valid
        (False, False, NOW, NOW + DAY, True),
    ],
)
def test_trusted(
    placeholder: bool, self_signed: bool, start: datetime, end: datetime, trusted: bool
) -> None:
    pair = ServedPair(placeholder, (), start, end, "", self_signed)
    assert pair.trusted(NOW) is trusted


def test_placeholder_is_made_once_and_remade_when_expired(tmp_path: Path) -> None:
    key, cert = ensure_placeholder(tmp_path, NOW)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = cert.read_bytes()
    ensure_placeholder(tmp_path, NOW + 30 * DAY)
    assert cert.read_bytes() == first
    ensure_placeholder(tmp_path, NOW + 400 * DAY)
    assert cert.read_bytes() != first
    key.write_text("damaged")
    ensure_placeholder(tmp_path, NOW)
    pki.load_private_key(key.read_bytes())


def test_load_pair_refuses_what_cannot_be_served(tmp_path: Path) -> None:
    box, ca = BoxIdentity.make(), LocalTestCA.create()
    key_pem, chain_pem, _ = box.issue(ca)
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    cert.write_bytes(chain_pem)
    for bad_key, message in [
        (b"", "not a PEM private key"),
        (pki.private_key_pem(pki.make_ec_key()), "is not for the key"),
    ]:
        key.write_bytes(bad_key)
        with pytest.raises(PairError, match=message):
            load_pair(key, cert, tmp_path)
    key.write_bytes(key_pem)
    with pytest.raises(PairError, match="cannot read"):
        load_pair(key, tmp_path / "absent.pem", tmp_path)
    _, served = load_pair(key, cert, tmp_path)
    assert set(served.names) == set(box.names) and not served.placeholder


def test_switch_serves_the_placeholder_for_an_unusable_pair_at_start(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    switch = CertificateSwitch(lambda: (key, cert), tmp_path / "front")
    assert switch.served.placeholder
    box, ca = BoxIdentity.make(), LocalTestCA.create()
    key_pem, chain_pem, leaf = box.issue(ca)
    key.write_bytes(key_pem)
    cert.write_bytes(chain_pem)
    served = switch.reload()
    assert served.fingerprint_sha256 == pki.fingerprint_sha256(leaf) and switch.swaps == 1
    cert.unlink()
    assert switch.reload() == served  # a vanished file keeps the pair in memory
