"""Helpers for the box's tests: pairs made at run time, a fake time for the loop, a raw server.

Nothing here stands in for our own code: the box under test is always the real one, on real
files and real sockets. :class:`RawIssuer` is an HTTP peer that answers whatever bytes a test
scripts, for the answers a real issuer cannot be made to give.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from boxcert import naming, pki
from boxcert.box.files import BoxPaths
from boxcert.box.pair import CertPair, install_pair
from tests.helpers import LocalTestCA

ZONE = naming.DEFAULT_ZONE
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def names_of(key: pki.PrivateKey, zone: str = ZONE) -> tuple[str, str]:
    return naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), zone)


def self_signed(
    key: pki.PrivateKey, names: tuple[str, ...], now: datetime = T0
) -> x509.Certificate:
    """A placeholder: self-signed, for the key's own names."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[-1])])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )


def issued_pair(
    ca: LocalTestCA,
    key: pki.PrivateKey | None = None,
    *,
    not_before: datetime | None = None,
    days: float = 90,
) -> CertPair:
    """A pair the CA issued for the key's box names (a new key unless given)."""
    key = key or pki.make_ec_key()
    start = not_before or datetime.now(UTC) - timedelta(hours=1)
    leaf = ca.leaf(
        key.public_key(), names_of(key), not_before=start, not_after=start + timedelta(days=days)
    )
    return CertPair(key, (leaf,))


def home_with_pair(home: Path, pair: CertPair | None = None) -> BoxPaths:
    paths = BoxPaths(home)
    home.mkdir(parents=True, exist_ok=True)
    if pair is not None:
        install_pair(paths, pair)
    return paths


@dataclass
class FakeTime:
    """A clock and a wait for the agent's loop: waiting moves the clock, nothing sleeps.

    ``on_wait`` runs at each wait with the number of seconds asked (to change files, request
    a check or stop the loop at a chosen moment).
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    waits: list[float] = field(default_factory=list)
    on_wait: Callable[[float], None] | None = None

    def clock(self) -> datetime:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        if self.on_wait is not None:
            self.on_wait(seconds)
        if event.is_set():
            return True
        self.now += timedelta(seconds=seconds)
        return False


Script = Callable[[socket.socket, bytes], None]


class RawIssuer:
    """A loopback TCP server; each connection reads the request and runs ``script``."""

    def __init__(self) -> None:
        self.script: Script = lambda conn, request: None
        self.requests: list[bytes] = []
        # Set: ``GET /iot/info`` gets these bytes (and is kept apart, in ``info_requests``),
        # so a script is the answer to the exchange only.
        self.info: bytes | None = None
        self.info_requests: list[bytes] = []
        self.finished = threading.Event()  # set when a script ran to its end
        self.client_gone = threading.Event()  # set when the box hung up on a script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                request = _read_request(conn)
                if self.info is not None and request.startswith(b"GET /iot/info "):
                    self.info_requests.append(request)
                    conn.sendall(self.info)
                    return
                self.requests.append(request)
                self.script(conn, request)
                self.finished.set()
            except OSError:
                self.client_gone.set()

    def close(self) -> None:
        self._stop.set()
        self._threads[0].join()
        self._listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def raw_issuer() -> Iterator[RawIssuer]:
    server = RawIssuer()
    try:
        yield server
    finally:
        server.close()


def http_answer(
    body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def body_of(request: bytes) -> Any:
    import json

    return json.loads(request.partition(b"\r\n\r\n")[2])
