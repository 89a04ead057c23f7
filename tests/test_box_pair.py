"""box/pair: key and chain read and replaced as one pair, and an interrupted replacement.

The kill -9 test of the same promise is in test_box_pair_kill.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from boxcert import pki
from boxcert.box import pair as pairs
from boxcert.box.errors import BoxFileError
from boxcert.box.files import BoxPaths
from tests.box_support import home_with_pair, issued_pair
from tests.helpers import LocalTestCA

CA = LocalTestCA.create()


def listing(paths: BoxPaths) -> list[str]:
    return sorted(p.name for p in paths.home.iterdir())


def test_install_then_load(tmp_path: Path) -> None:
    pair = issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", pair)
    assert pairs.load_pair(paths) == pair
    assert paths.key.read_bytes() == pair.key_pem()
    assert paths.cert.read_bytes() == pair.chain_pem()
    assert stat.S_IMODE(os.stat(paths.key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths.cert).st_mode) == 0o644
    assert listing(paths) == [".pair.lock", "cert.pem", "key.pem"]  # nothing staged is left


def test_renewal_with_the_same_key_leaves_the_key_file_alone(tmp_path: Path) -> None:
    first = issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", first)
    key_inode = os.stat(paths.key).st_ino
    second = issued_pair(CA, first.key)
    pairs.install_pair(paths, second)
    assert pairs.load_pair(paths) == second
    assert os.stat(paths.key).st_ino == key_inode


def test_a_new_key_replaces_both(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box", issued_pair(CA))
    other = issued_pair(CA)
    pairs.install_pair(paths, other)
    assert pairs.load_pair(paths) == other


def test_store_key_takes_the_old_certificate_with_it(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box", issued_pair(CA))
    key = pki.make_ec_key()
    pairs.store_key(paths, key)
    files = pairs.read_pair(paths)
    assert files.cert_pem is None
    assert files.key_pem == pki.private_key_pem(key)
    assert pairs.load_pair(paths) is None  # a key alone is nothing to serve


def test_a_pair_must_match() -> None:
    pair = issued_pair(CA)
    with pytest.raises(ValueError, match="not for this key"):
        pairs.CertPair(pki.make_ec_key(), pair.chain)
    with pytest.raises(ValueError, match="at least one"):
        pairs.CertPair(pair.key, ())


@pytest.mark.parametrize("damage", ["no cert", "no key", "garbage cert", "other key"])
def test_load_pair_is_none_unless_whole_and_matching(tmp_path: Path, damage: str) -> None:
    pair = issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", pair)
    if damage == "no cert":
        paths.cert.unlink()
    elif damage == "no key":
        paths.key.unlink()
    elif damage == "garbage cert":
        paths.cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    else:
        paths.key.write_bytes(pki.private_key_pem(pki.make_ec_key()))
    assert pairs.load_pair(paths) is None


def _stage(paths: BoxPaths, name: str, files: dict[str, bytes], manifest: object) -> Path:
    folder = paths.home / name
    folder.mkdir()
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    if manifest is not None:
        (folder / pairs.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_recovery_finishes_a_committed_replacement(tmp_path: Path) -> None:
    old, new = issued_pair(CA), issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", old)
    files = {"key.pem": new.key_pem(), "cert.pem": new.chain_pem()}
    _stage(paths, pairs.NEXT, files, {"key": True, "cert": True})
    assert pairs.load_pair(paths) == new  # a reader finishes it first
    assert listing(paths) == [".pair.lock", "cert.pem", "key.pem"]


def test_recovery_finishes_a_replacement_killed_between_its_renames(tmp_path: Path) -> None:
    old, new = issued_pair(CA), issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", old)
    paths.cert.write_bytes(new.chain_pem())  # the certificate is in place, the key is not
    _stage(paths, pairs.NEXT, {"key.pem": new.key_pem()}, {"key": True, "cert": True})
    assert pairs.load_pair(paths) == new


def test_recovery_finishes_a_key_change_that_removes_the_certificate(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box", issued_pair(CA))
    key = pki.make_ec_key()
    _stage(paths, pairs.NEXT, {"key.pem": pki.private_key_pem(key)}, {"key": True, "cert": False})
    files = pairs.read_pair(paths)
    assert (files.key_pem, files.cert_pem) == (pki.private_key_pem(key), None)


@pytest.mark.parametrize("manifest", [None, "nonsense", {"key": True}])
def test_recovery_drops_a_next_folder_it_cannot_read(tmp_path: Path, manifest: object) -> None:
    old = issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", old)
    _stage(paths, pairs.NEXT, {"key.pem": b"x", "cert.pem": b"y"}, manifest)
    assert pairs.load_pair(paths) == old
    assert pairs.NEXT not in listing(paths)


def test_recovery_discards_an_unfinished_staging_and_old_temp_files(tmp_path: Path) -> None:
    old = issued_pair(CA)
    paths = home_with_pair(tmp_path / "box", old)
    _stage(paths, pairs.STAGING, {"key.pem": b"half"}, None)
    for name in (".cert.pem.abcd1234", ".key.pem.x_y_z_12", ".state.json.q1w2e3r4"):
        (paths.home / name).write_bytes(b"left by a kill -9")
    (paths.home / ".cert.pem.not-temp").write_bytes(b"not ours")  # not a temp name: kept
    with pairs._pair_lock(paths):
        assert pairs.recover(paths) == "discarded"
    assert pairs.load_pair(paths) == old
    assert listing(paths) == [".cert.pem.not-temp", ".pair.lock", "cert.pem", "key.pem"]


def test_nothing_to_recover(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box", issued_pair(CA))
    with pairs._pair_lock(paths):
        assert pairs.recover(paths) is None


def test_install_refuses_a_directory_in_place_of_the_certificate(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box")
    paths.cert.mkdir()
    with pytest.raises(BoxFileError, match="is a directory"):
        pairs.install_pair(paths, issued_pair(CA))
    assert listing(paths) == [".pair.lock", "cert.pem"]  # nothing half-done is left


@pytest.mark.parametrize("target", ["key", "cert"])
def test_read_pair_names_the_file_it_cannot_read(tmp_path: Path, target: str) -> None:
    paths = home_with_pair(tmp_path / "box", issued_pair(CA))
    path = paths.key if target == "key" else paths.cert
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(BoxFileError) as caught:
        pairs.read_pair(paths)
    assert caught.value.path == path
    assert "not a regular file" in str(caught.value)


def test_a_directory_as_pair_lock_is_a_clear_error(tmp_path: Path) -> None:
    paths = home_with_pair(tmp_path / "box")
    paths.pair_lock.mkdir()
    with pytest.raises(BoxFileError, match=r"\.pair\.lock is a directory"):
        pairs.read_pair(paths)
