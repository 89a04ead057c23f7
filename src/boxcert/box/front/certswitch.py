"""Serving the current certificate pair, swapped in memory on the next handshake.

:class:`CertificateSwitch` owns the server :class:`ssl.SSLContext` that the HTTPS listener
uses. Its ``sni_callback`` hands every new connection the context of the pair that is current
at that moment; OpenSSL calls it for every handshake, with or without SNI (a client that
connects by IP sends none), so a swap reaches everyone. Connections already open keep the pair
they were made with until they close: nothing is dropped, in-flight requests finish.

:meth:`CertificateSwitch.reload` reads the agent's key and chain once, checks that they belong
together, and builds a fresh context from the very bytes it checked (handed to OpenSSL through
an anonymous in-memory file, so a swap half-way through cannot mix two pairs and the key is not
copied to disk). While there is no usable pair it serves the placeholder; when a reload finds
damaged files it keeps serving what it served and logs why. Safe to call from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from boxcert import pki
from boxcert.box.front.placeholder import ensure_placeholder
from boxcert.box.front.tlsprofile import server_context
from boxcert.clock import Clock, system_clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedPair:
    """What the HTTPS listener hands out now."""

    placeholder: bool
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    self_signed: bool

    def trusted(self, now: datetime) -> bool:
        """A real certificate within its validity: browsers may trust it, so plain HTTP can
        redirect and HSTS can be sent. (Its chain was verified by the agent before install.)"""
        return (
            not self.placeholder
            and not self.self_signed
            and self.not_before <= now < self.not_after
        )


class PairError(ValueError):
    """The key and certificate files cannot be served; the message says why."""


@contextlib.contextmanager
def _memory_file(data: bytes, directory: Path) -> Iterator[str]:
    """A path OpenSSL can open that holds ``data``: an anonymous memory file where the system
    has them, else a 0600 temporary file removed at once after use."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("boxcert-pair", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, name = tempfile.mkstemp(dir=directory)  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def load_pair(key_path: Path, cert_path: Path, scratch: Path) -> tuple[ssl.SSLContext, ServedPair]:
    """A server context for the pair in these files, or PairError."""
    try:
        key_pem = key_path.read_bytes()
        chain_pem = cert_path.read_bytes()
    except OSError as err:
        raise PairError(f"cannot read {err.filename}: {err.strerror}") from err
    try:
        key = pki.load_private_key(key_pem)
        chain = pki.load_chain(chain_pem)
        leaf = chain[0]
        if not pki.same_public_key(leaf.public_key(), key.public_key()):
            raise PairError(f"{cert_path} is not for the key in {key_path}")
        served = ServedPair(
            placeholder=False,
            names=tuple(pki.dns_names(leaf)),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            fingerprint_sha256=pki.fingerprint_sha256(leaf),
            self_signed=pki.is_self_signed(leaf),
        )
    except (ValueError, TypeError) as err:  # PemError, or an extension unreadable on access
        raise PairError(f"{cert_path}: {err}") from err
    context = server_context()
    # The chain as checked above, re-encoded: OpenSSL sees exactly what was verified.
    with (
        _memory_file(pki.chain_pem(chain).encode("ascii"), scratch) as certfile,
        _memory_file(pki.private_key_pem(key), scratch) as keyfile,
    ):
        try:
            context.load_cert_chain(certfile, keyfile)
        except ssl.SSLError as err:
            raise PairError(f"OpenSSL refused the pair: {err.reason or err}") from err
    return context, served


class CertificateSwitch:
    def __init__(
        self,
        pair_paths: Callable[[], tuple[Path, Path]],
        state_dir: Path,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self._pair_paths = pair_paths
        self.state_dir = state_dir
        self._clock = clock
        self._lock = threading.Lock()
        state_dir.mkdir(parents=True, exist_ok=True)
        self._current, self._served = self._initial()
        # The listener's context: its own settings are the profile's; the callback swaps in the
        # current pair for each handshake.
        self.context = server_context()
        self.context.sni_callback = self._on_hello
        placeholder_key, placeholder_cert = ensure_placeholder(state_dir, clock())
        self.context.load_cert_chain(str(placeholder_cert), str(placeholder_key))
        self.swaps = 0

    @property
    def served(self) -> ServedPair:
        return self._served

    def _on_hello(
        self, connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _: ssl.SSLContext
    ) -> None:
        current = self._current  # one read: a concurrent swap gives the old or the new, whole
        if connection.context is not current:
            connection.context = current
        return None

    def _placeholder(self) -> tuple[ssl.SSLContext, ServedPair]:
        key_path, cert_path = ensure_placeholder(self.state_dir, self._clock())
        context, served = load_pair(key_path, cert_path, self.state_dir)
        return context, ServedPair(
            True,
            served.names,
            served.not_before,
            served.not_after,
            served.fingerprint_sha256,
            True,
        )

    def _initial(self) -> tuple[ssl.SSLContext, ServedPair]:
        key_path, cert_path = self._pair_paths()
        if not cert_path.exists():
            return self._placeholder()
        try:
            return load_pair(key_path, cert_path, self.state_dir)
        except PairError as err:
            log.warning("serving the placeholder: the box's certificate is unusable: %s", err)
            return self._placeholder()

    def reload(self) -> ServedPair:
        """Serve the agent's current pair from the next handshake on; return what is served."""
        with self._lock:
            key_path, cert_path = self._pair_paths()
            if not cert_path.exists() and not self._served.placeholder:
                log.warning("the certificate %s is gone; still serving the last one", cert_path)
                return self._served
            if not cert_path.exists():
                return self._served
            try:
                context, served = load_pair(key_path, cert_path, self.state_dir)
            except PairError as err:
                log.warning("keeping the certificate served now: %s", err)
                return self._served
            if served.fingerprint_sha256 != self._served.fingerprint_sha256:
                log.info(
                    "now serving the certificate %s for %s until %s",
                    served.fingerprint_sha256[:23],
                    ", ".join(served.names),
                    served.not_after.isoformat(),
                )
                self.swaps += 1
            self._current, self._served = context, served
            return served
