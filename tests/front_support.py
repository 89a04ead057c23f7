"""Helpers for the box front's tests: a box identity, pairs issued by a test CA at run time,
a running front over real sockets, TLS clients that look at the served certificate."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509

from boxcert import naming, pki
from boxcert.box.front.localbackend import LocalBackend
from boxcert.box.front.server import FrontAddresses, FrontOptions, running
from tests.helpers import LocalTestCA

ZONE = naming.DEFAULT_ZONE
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@dataclass
class BoxIdentity:
    key: pki.PrivateKey
    label: str
    names: tuple[str, str]
    host: str  # 127-0-0-1.<label>.<zone>

    @classmethod
    def make(cls) -> BoxIdentity:
        key = pki.make_ec_key()
        label = naming.box_label(pki.spki_der(key.public_key()))
        return cls(
            key,
            label,
            naming.certificate_names(label, ZONE),
            naming.host_name(LOOPBACK, label, ZONE),
        )

    def issue(
        self,
        ca: LocalTestCA,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> tuple[bytes, bytes, x509.Certificate]:
        """(key PEM, chain PEM, leaf) for this box's names, signed by ``ca``."""
        leaf = ca.leaf(
            self.key.public_key(),
            dns_names=list(self.names),
            not_before=not_before,
            not_after=not_after,
        )
        chain = pki.chain_pem([leaf, ca.cert]).encode("ascii")
        return pki.private_key_pem(self.key), chain, leaf


@dataclass
class RunningFront:
    backend: LocalBackend
    ports: FrontAddresses
    box: BoxIdentity
    ca: LocalTestCA
    root: Path
    state_dir: Path
    passwords: list[str] = field(default_factory=list)

    @property
    def password(self) -> str:
        return self.passwords[0]

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.ports.https_port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports.http_port}{path}"

    def name_url(self, path: str = "/") -> str:
        return f"https://{self.box.host}:{self.ports.https_port}{path}"

    def install(self, **kw: Any) -> x509.Certificate:
        key_pem, chain_pem, leaf = self.box.issue(self.ca, **kw)
        self.backend.install(key_pem, chain_pem)
        return leaf

    def client(self, **kw: Any) -> httpx.Client:
        """A client that trusts nothing: for reading pages whatever the certificate."""
        return httpx.Client(verify=False, timeout=30, **kw)


def trusting(root: Path, *, check_hostname: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(root))
    context.check_hostname = check_hostname
    return context


@contextlib.contextmanager
def front(
    tmp_path: Path,
    *,
    upstream: str | None = None,
    installed: bool = True,
    backend: LocalBackend | None = None,
    ca: LocalTestCA | None = None,
    **options: Any,
) -> Iterator[RunningFront]:
    """A real front on loopback (free ports), with a LocalBackend; a pair installed unless
    ``installed`` is False."""
    box = BoxIdentity.make()
    ca = ca or LocalTestCA.create("front test root")
    root = ca.write(tmp_path / "root.pem")
    backend = backend or LocalBackend(tmp_path / "box")
    passwords: list[str] = []
    state_dir = tmp_path / "front"
    if installed:
        key_pem, chain_pem, _ = box.issue(ca)
        backend.install(key_pem, chain_pem)
    opts = FrontOptions(
        state_dir, https_port=0, http_port=0, listen="127.0.0.1", upstream=upstream, **options
    )
    with running(backend, opts, announce_password=passwords.append) as ports:
        backend.url = naming.box_url(LOOPBACK, box.label, ZONE, ports.https_port)
        yield RunningFront(backend, ports, box, ca, root, state_dir, passwords)


def served_leaf(
    port: int, *, server_name: str | None = None, context: ssl.SSLContext | None = None
) -> x509.Certificate:
    """The leaf a new TLS connection to 127.0.0.1:port is given (no SNI unless named)."""
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@contextlib.contextmanager
def serve_app(app: Callable[..., Any]) -> Iterator[str]:
    """Any ASGI app on a real uvicorn on loopback (websockets on); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(3000):
        if server.started:
            break
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
