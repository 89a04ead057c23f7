"""The box's key and certificate chain, read and replaced as one pair.

On disk the pair is ``<home>/key.pem`` (0600) and ``<home>/cert.pem`` (leaf first), where
servers such as nginx expect them. Whoever reads or replaces them holds ``<home>/.pair.lock``
(briefly; never across a network exchange), so a reader sees the old pair or the new one, never
a key with another key's certificate.

Replacing survives a ``kill -9`` at any instant:

1. write the new files into ``.pair-staging/`` (mode set before the first byte, fsync), with a
   ``manifest.json`` saying which of the two files change and whether ``cert.pem`` goes away;
2. rename ``.pair-staging`` to ``.pair-next`` — the commit point;
3. move each file into place, fsync the home directory, remove ``.pair-next``.

Whoever takes the lock next first finishes a ``.pair-next`` (every step is idempotent) and
discards a ``.pair-staging``, together with temp files older writers left behind. Servers that
read the two files without the lock may, for the instant between the two renames of a key
change, see the new key with the old certificate; a key changes only when the box had none.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from boxcert import pki
from boxcert.box.errors import BoxFileError
from boxcert.box.files import (
    CHAIN_FILE_BYTES,
    SMALL_FILE_BYTES,
    BoxPaths,
    clean_stale_temps,
    read_optional,
)
from boxcert.box.lock import file_lock

PAIR_LOCK_TIMEOUT = 10.0  # a hang guard: the pair lock is held for milliseconds
STAGING = ".pair-staging"
NEXT = ".pair-next"
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True, eq=False)
class CertPair:
    """A private key and the certificate chain (leaf first) issued for it.

    Two pairs are equal when they hold the same key and the same certificates.
    """

    key: pki.PrivateKey
    chain: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("a pair needs at least one certificate")
        if not pki.same_public_key(self.chain[0].public_key(), self.key.public_key()):
            raise ValueError("the certificate is not for this key")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CertPair):
            return NotImplemented
        return self.chain == other.chain and self.key_pem() == other.key_pem()

    def __hash__(self) -> int:
        return hash(self.chain)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def key_pem(self) -> bytes:
        return pki.private_key_pem(self.key)

    def chain_pem(self) -> bytes:
        return pki.chain_pem(self.chain).encode("ascii")


@dataclass(frozen=True, slots=True)
class PairFiles:
    """The raw content of key.pem and cert.pem, read together; None for a missing file."""

    key_pem: bytes | None
    cert_pem: bytes | None


def parse_key(pem: bytes) -> pki.PrivateKey:
    """The key of ``key.pem``; PemError when damaged."""
    return pki.load_private_key(pem)


def parse_chain(pem: bytes) -> list[x509.Certificate]:
    """The chain of ``cert.pem``, every part parsed; PemError when damaged."""
    chain = pki.load_chain(pem)
    pki.ensure_parsed(chain)
    return chain


def _pair_lock(paths: BoxPaths) -> contextlib.AbstractContextManager[None]:
    def busy() -> BoxFileError:
        return BoxFileError(
            paths.pair_lock, f"is held by another process for over {PAIR_LOCK_TIMEOUT:g} s"
        )

    return file_lock(paths.pair_lock, PAIR_LOCK_TIMEOUT, busy=busy)


def _read_only(err: BoxFileError) -> bool:
    cause = err.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


def read_pair(paths: BoxPaths) -> PairFiles:
    """key.pem and cert.pem as one snapshot (finishing an interrupted replacement first).

    Raises BoxFileError naming the file that cannot be read (a directory, a FIFO, too large).
    In a home this process may not write to, the files are read without the lock.
    """
    try:
        with _pair_lock(paths):
            recover(paths)
            return _read(paths)
    except BoxFileError as err:
        if err.path == paths.pair_lock and _read_only(err):
            return _read(paths)  # nobody can replace the pair where we cannot write either
        raise


def _read(paths: BoxPaths) -> PairFiles:
    return PairFiles(
        key_pem=read_optional(paths.key, SMALL_FILE_BYTES),
        cert_pem=read_optional(paths.cert, CHAIN_FILE_BYTES),
    )


def load_pair(paths: BoxPaths) -> CertPair | None:
    """The pair on disk when it is whole and matching (what a server may serve), else None."""
    try:
        files = read_pair(paths)
        if files.key_pem is None or files.cert_pem is None:
            return None
        return CertPair(parse_key(files.key_pem), tuple(parse_chain(files.cert_pem)))
    except (BoxFileError, ValueError):
        return None  # PemError and a mismatched pair are ValueErrors


def install_pair(paths: BoxPaths, pair: CertPair) -> None:
    """Replace key.pem and cert.pem with ``pair`` as one step (key.pem only if it changes)."""
    with _pair_lock(paths):
        recover(paths)
        current = read_optional(paths.key, SMALL_FILE_BYTES)
        same_key = current is not None and _same_key(current, pair.key)
        _replace(paths, key_pem=None if same_key else pair.key_pem(), cert_pem=pair.chain_pem())


def store_key(paths: BoxPaths, key: pki.PrivateKey) -> None:
    """Make ``key`` the box's key; a certificate left from a previous key goes with it."""
    with _pair_lock(paths):
        recover(paths)
        _replace(paths, key_pem=pki.private_key_pem(key), cert_pem=None)


def drop_certificate(paths: BoxPaths) -> None:
    """Remove cert.pem and keep the key (a revoked certificate is never served again)."""
    with _pair_lock(paths):
        recover(paths)
        if read_optional(paths.cert, CHAIN_FILE_BYTES) is not None:
            _replace(paths, key_pem=None, cert_pem=None)


def _same_key(pem: bytes, key: pki.PrivateKey) -> bool:
    try:
        return pki.same_public_key(parse_key(pem).public_key(), key.public_key())
    except pki.PemError:
        return False


def _replace(paths: BoxPaths, *, key_pem: bytes | None, cert_pem: bytes | None) -> None:
    """Stage, commit and finish: ``key_pem`` None keeps the key, ``cert_pem`` None removes
    the certificate."""
    home = paths.home
    for path in (paths.key, paths.cert):
        if path.is_dir():
            raise BoxFileError(path, "is a directory, not a file")
    staging = home / STAGING
    try:
        staging.mkdir(mode=0o700)
        if key_pem is not None:
            _write_new(staging / "key.pem", key_pem, 0o600)
        if cert_pem is not None:
            _write_new(staging / "cert.pem", cert_pem, 0o644)
        manifest = {"key": key_pem is not None, "cert": cert_pem is not None}
        _write_new(staging / MANIFEST, json.dumps(manifest).encode(), 0o600)
        _fsync_dir(staging)
        os.rename(staging, home / NEXT)  # the commit point
        _fsync_dir(home)
    except OSError as err:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise BoxFileError(home, f"cannot take the new pair: {err.strerror or err}") from err
    recover(paths)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(paths: BoxPaths) -> str | None:
    """Finish or discard a replacement a killed writer left; call with the pair lock held.

    Returns what was done ("finished", "discarded") or None when there was nothing to do.
    """
    home = paths.home
    done: str | None = None
    nxt = home / NEXT
    try:
        if nxt.is_dir():
            _finish(paths, nxt)
            done = "finished"
        staging = home / STAGING
        if staging.is_dir():
            shutil.rmtree(staging)
            done = done or "discarded"
    except OSError as err:
        raise BoxFileError(home, f"cannot finish replacing the certificate: {err}") from err
    clean_stale_temps(home)
    return done


def _finish(paths: BoxPaths, nxt: Path) -> None:
    try:
        manifest = json.loads((nxt / MANIFEST).read_bytes())
        change_key, has_cert = bool(manifest["key"]), bool(manifest["cert"])
    except (OSError, ValueError, KeyError, TypeError):
        # The manifest is written and synced before the rename: this is not our directory's
        # shape. Leave the live pair as it is.
        shutil.rmtree(nxt)
        return
    staged_cert, staged_key = nxt / "cert.pem", nxt / "key.pem"
    if has_cert:
        if staged_cert.exists():
            os.replace(staged_cert, paths.cert)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.cert)
    if change_key and staged_key.exists():
        os.replace(staged_key, paths.key)
    _fsync_dir(paths.home)
    shutil.rmtree(nxt)
