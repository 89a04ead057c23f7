"""In-process issuers for the tests: a real service on a real database (SQLite in the test's
directory, or a PostgreSQL URL), the local CA or a CA of the test's choosing, an injected
clock, and the real Starlette app reached through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from boxcert import naming, pki
from boxcert.issuer.app import create_app
from boxcert.issuer.ca import CertificateAuthority, IssuedCertificate
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.db import open_engine, session_factory
from boxcert.issuer.errors import RateLimited
from boxcert.issuer.events import Event
from boxcert.issuer.hotcache import HotCache
from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
from boxcert.issuer.service import IssuerService
from boxcert.issuer.store import accounts, settings
from boxcert.wire import CertificateRequest

ZONE = naming.DEFAULT_ZONE


class Ticker:
    """A monotonic clock the test moves by hand (the hot cache's staleness bound)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def sessions_for(url: str) -> sessionmaker[Session]:
    return session_factory(open_engine(url))


def sqlite_url(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'issuer.sqlite3'}"


def register(
    sessions: sessionmaker[Session],
    db_uuid: str,
    code: str,
    *,
    kind: DatabaseKind = DatabaseKind.PRODUCTION,
    state: SubscriptionState = SubscriptionState.IN_PROGRESS,
    lines: tuple[str, ...] = (IOT_BOX_LINE,),
    now: datetime | None = None,
) -> int:
    """Register a subscription with ``code`` and a database under it; the subscription id."""
    with sessions.begin() as s:
        codes = settings.contract_codes_of(s)
        sub = accounts.add_subscription(
            s, codes, code, state, list(lines), now or datetime.now(UTC)
        )
        accounts.add_database(s, db_uuid, kind, sub.id, now or datetime.now(UTC))
        return sub.id


@dataclass
class Issuer:
    """A service with its database, CA, clock and the events it announced."""

    service: IssuerService
    sessions: sessionmaker[Session]
    clock: Clock
    events: list[Event] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(self.service))
        return httpx.AsyncClient(transport=transport, base_url="http://issuer.test")

    def register(self, db_uuid: str, code: str, **kw: Any) -> int:
        return register(self.sessions, db_uuid, code, now=self.clock(), **kw)

    def statements(self) -> list[str]:
        """A list that fills with every SQL statement run from now on."""
        seen: list[str] = []
        engine = self.sessions.kw["bind"]

        def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        return seen


def make_issuer(
    directory: Path,
    *,
    url: str | None = None,
    ca: CertificateAuthority | None = None,
    clock: Clock | None = None,
    cache: HotCache | None = None,
    **settings_: Any,
) -> Issuer:
    clock = clock or Clock()
    sessions = sessions_for(url or sqlite_url(directory))
    if ca is None:
        ca = LocalCA(directory / "ca", ZONE, clock=clock)
    service = IssuerService(
        sessions, ca, IssuerSettings(zone=ZONE, **settings_), clock=clock, cache=cache
    )
    issuer = Issuer(service, sessions, clock)
    service.events.subscribe_all(issuer.events.append)
    return issuer


# --- requests -------------------------------------------------------------------------------


def box_key() -> pki.PrivateKey:
    return pki.make_ec_key()


def names_of(key: pki.PrivateKey) -> tuple[str, str]:
    return naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE)


def box_csr(key: pki.PrivateKey | None = None, names: list[str] | None = None) -> str:
    key = key or box_key()
    return pki.csr_pem(pki.make_csr(key, names or list(names_of(key))))


def box_request(db_uuid: str, code: str, key: pki.PrivateKey | None = None) -> CertificateRequest:
    return CertificateRequest(db_uuid, code, "box", box_csr(key))


def body(db_uuid: str, code: str, csr: str | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"db_uuid": db_uuid, "enterprise_code": code, "identifier": "t"}
    if csr is not None:
        params["csr"] = csr
    params.update(extra)
    return {"params": params}


# --- stand-ins for a public CA's answers (the public internet is the one thing we mock) ------


class LimitedCA:
    """A public CA that answers every order with "rate limited, retry after ..."."""

    limits_per_domain = True

    def __init__(self, retry_after: datetime | None, name: str = "acme-test") -> None:
        self.name = name
        self.calls = 0
        self.retry_after = retry_after

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        self.calls += 1
        raise RateLimited("too many new orders", self.retry_after)

    async def revoke(self, chain_pem: str, reason: Any = None) -> None:
        return None

    async def suggested_renewal(self, chain_pem: str) -> datetime | None:
        return None

    async def close(self) -> None:
        return None


class PublicLikeCA:
    """Our local CA behind a public CA's face: ordered through the general path (it does not
    sign in-process, as a remote CA does not), and counted (so the weekly cap applies)."""

    limits_per_domain = True
    name = "acme-test"

    def __init__(self, directory: Path, clock: Callable[[], datetime]) -> None:
        self.local = LocalCA(directory, ZONE, clock=clock)
        self.orders: list[str | None] = []  # the `replaces` of each order

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        self.orders.append(replaces)
        return self.local.sign(csr, names, replaces)

    async def revoke(self, chain_pem: str, reason: Any = None) -> None:
        return None

    def revocation_list(self, revoked: Any, now: datetime) -> bytes | None:
        return self.local.revocation_list(revoked, now)

    async def suggested_renewal(self, chain_pem: str) -> datetime | None:
        return None

    async def close(self) -> None:
        return None
