"""Helpers for the box front's tests: a box identity, pairs issued by a test CA at run time,
a front running over real sockets on the real agent, TLS clients that look at the served
certificate."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from boxcert import naming, pki
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.files import BoxPaths
from boxcert.box.front.backend import AgentBackend
from boxcert.box.front.server import FrontAddresses, FrontOptions, running
from boxcert.box.pair import CertPair, install_pair
from boxcert.clock import Clock, system_clock
from tests.helpers import LocalTestCA

ZONE = naming.DEFAULT_ZONE
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


@dataclass
class BoxIdentity:
    key: pki.PrivateKey
    label: str
    names: tuple[str, str]
    host: str  # 127-0-0-1.<label>.<zone>

    @classmethod
    def make(cls, key: pki.PrivateKey | None = None) -> BoxIdentity:
        key = key or pki.make_ec_key()
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
        pair = self.pair(ca, not_before=not_before, not_after=not_after)
        return pair.key_pem(), pair.chain_pem(), pair.leaf

    def pair(
        self,
        ca: LocalTestCA,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> CertPair:
        leaf = ca.leaf(
            self.key.public_key(),
            dns_names=list(self.names),
            not_before=not_before,
            not_after=not_after,
        )
        return CertPair(self.key, (leaf, ca.cert))


def box_home(home: Path, **settings: Any) -> BoxPaths:
    """A box home whose settings make its URL ``https://127-0-0-1.<label>.<zone>:<port>``."""
    paths = BoxPaths(home)
    home.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {
        "server": "http://127.0.0.1:8069",
        "lan_ip": "127.0.0.1",
        "identifier": "front-test-box",
        **settings,
    }
    save_config(paths, BoxConfig(**fields))
    return paths


@dataclass
class RunningFront:
    agent: BoxAgent
    backend: AgentBackend
    ports: FrontAddresses
    box: BoxIdentity
    ca: LocalTestCA
    root: Path
    passwords: list[str] = field(default_factory=list)

    @property
    def paths(self) -> BoxPaths:
        return self.agent.paths

    @property
    def state_dir(self) -> Path:
        return self.paths.front_dir

    @property
    def password(self) -> str:
        return self.passwords[0]

    @property
    def box_url(self) -> str:
        """The URL the agent gives the box (by name, with the served port)."""
        return naming.box_url(LOOPBACK, self.box.label, ZONE, self.ports.https_port)

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.ports.https_port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports.http_port}{path}"

    def name_url(self, path: str = "/") -> str:
        return f"https://{self.box.host}:{self.ports.https_port}{path}"

    def install(self, **kw: Any) -> x509.Certificate:
        """Install a pair for the box's key as the agent does: one atomic replacement, the
        ``Installed`` event, then the new status."""
        pair = self.box.pair(self.ca, **kw)
        install_pair(self.paths, pair)
        self.agent.holder.installed(pair)
        self.agent.status()
        return pair.leaf

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
    ca: LocalTestCA | None = None,
    clock: Clock = system_clock,
    settings: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[RunningFront]:
    """A real front on loopback (free ports) on a real agent whose home is under
    ``tmp_path``; a pair for the box's key installed unless ``installed`` is False."""
    ca = ca or LocalTestCA.create("front test root")
    root = ca.write(tmp_path / "root.pem")
    paths = box_home(tmp_path / "box", **(settings or {}))
    box = BoxIdentity.make()
    if installed:
        install_pair(paths, box.pair(ca))
    else:  # the box's key only: the front serves its placeholder
        pki.atomic_write(paths.key, pki.private_key_pem(box.key), 0o600)
    agent = BoxAgent(paths, clock=clock)
    backend = AgentBackend(agent, clock=clock)
    passwords: list[str] = []
    opts = FrontOptions(
        paths.front_dir, https_port=0, http_port=0, listen="127.0.0.1", upstream=upstream, **options
    )
    with running(backend, opts, clock=clock, announce_password=passwords.append) as ports:
        agent.configure(https_port=ports.https_port)  # as `box run` does: the URL's port
        agent.status()
        yield RunningFront(agent, backend, ports, box, ca, root, passwords)


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
def front_with_dns(
    tmp_path: Path, *router_flags: str, row: str, **kw: Any
) -> Iterator[RunningFront]:
    """:func:`front` whose LAN resolver is Debian's dnsmasq (with ``router_flags``) in front of
    our own zone server; yields once the homepage's DNS row says ``row``."""
    import time

    from tests.resolvers import dnsmasq, zone_server

    with zone_server(ZONE) as zone_dns, dnsmasq(ZONE, zone_dns, *router_flags) as router:
        settings = {
            "lan_resolver": f"{router.address[0]}:{router.address[1]}",
            "zone_dns": [f"{zone_dns[0]}:{zone_dns[1]}"],
            **kw.pop("settings", {}),
        }
        with front(tmp_path, settings=settings, **kw) as f, f.client() as client:
            deadline = time.monotonic() + 60  # a hang guard
            while row not in client.get(f.url("/")).text:
                assert time.monotonic() < deadline, f"the DNS row never said {row!r}"
                time.sleep(0.1)
            yield f
