"""What the issuer announces: typed events on a small synchronous bus.

The service and the lifecycle jobs publish; the audit log, the metrics and the CRL cache
subscribe::

    unsubscribe = bus.subscribe(CertificateIssued, lambda event: counter.inc())
    bus.subscribe_all(audit.record)          # every event type

Contract: ``publish`` calls each listener in subscription order, in the publisher's thread
(the issuer's event loop), before the request goes on. Listeners must be quick and must not
block: one that writes to a database or a file hands the event to its own queue or thread.
A listener that raises is logged with its traceback and skipped; it never fails the request
and never stops the other listeners. Events carry no secret (no contract code, no key).

Events:

- :class:`CertificateGranted` — a request was answered with a certificate (cached or new);
- :class:`CertificateIssued` — the CA issued a new certificate (first or renewal);
- :class:`RequestRefused` — a request was refused, with the refusal code and message;
- :class:`CertificateRevoked` — a certificate was revoked at the CA and marked in the store,
  with the RFC 5280 reason and, when an entitlement ended, the refusal that says why;
- :class:`CaPaused` — the CA asked us to slow down; no order for the domain before ``until``;
- :class:`EntitlementLapsed` / :class:`EntitlementRestored` — a database stopped (started
  again) being entitled; its certificates are revoked once the grace period has passed;
- :class:`HubReported` — a hub installation reported its database (signed);
- :class:`DuplicateMarked` / :class:`DuplicateResolved` — two installations reported one
  database; the vendor kept one;
- :class:`AdminChanged` — a subscription, database, account or token was changed through the
  admin API or the command line;
- :class:`PortalLogin` — a customer logged in to the portal, or failed to.

Every event has ``at``; those done by someone carry ``actor`` (``admin-api:<token name>``,
``cli``, ``portal:<e-mail>``, ``lifecycle``, ``hub:<fingerprint>``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from boxcert.wire import RefusalCode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CertificateGranted:
    at: datetime
    db_uuid: str
    holder_label: str
    for_box: bool  # a box's own key (CSR), else the database's cached key (no CSR)
    serial_hex: str
    not_after: datetime
    from_cache: bool


@dataclass(frozen=True, slots=True)
class CertificateIssued:
    at: datetime
    db_uuid: str
    holder_label: str
    for_box: bool
    names: tuple[str, ...]
    serial_hex: str
    ca_name: str
    registered_domain: str
    not_after: datetime
    renewal: bool  # replaces an earlier certificate of the same holder


@dataclass(frozen=True, slots=True)
class RequestRefused:
    at: datetime
    db_uuid: str  # as sent (canonical form); may be a uuid nobody registered
    holder_label: str | None  # None when refused before the CSR was read
    code: RefusalCode
    message: str


@dataclass(frozen=True, slots=True)
class CertificateRevoked:
    at: datetime
    db_uuid: str
    holder_label: str
    serial_hex: str
    ca_name: str
    reason: str = "unspecified"  # x509.ReasonFlags value
    cause: RefusalCode | None = None  # the entitlement that ended, if that is why
    actor: str = "cli"


@dataclass(frozen=True, slots=True)
class CaPaused:
    at: datetime
    ca_name: str
    registered_domain: str
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class EntitlementLapsed:
    at: datetime
    db_uuid: str
    code: RefusalCode
    message: str
    revoke_after: datetime


@dataclass(frozen=True, slots=True)
class EntitlementRestored:
    at: datetime
    db_uuid: str
    lapsed_since: datetime


@dataclass(frozen=True, slots=True)
class HubReported:
    at: datetime
    db_uuid: str
    fingerprint: str
    first_time: bool  # the first report from this installation


@dataclass(frozen=True, slots=True)
class DuplicateMarked:
    at: datetime
    db_uuid: str
    fingerprints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DuplicateResolved:
    at: datetime
    db_uuid: str
    kept: str
    actor: str


@dataclass(frozen=True, slots=True)
class AdminChanged:
    at: datetime
    actor: str
    what: str  # one line saying what changed; never a secret
    db_uuid: str | None = None
    subscription_id: int | None = None


@dataclass(frozen=True, slots=True)
class PortalLogin:
    at: datetime
    account: str  # the account's e-mail address; "" for an unknown name
    ok: bool
    client: str = ""


Event = (
    CertificateGranted
    | CertificateIssued
    | RequestRefused
    | CertificateRevoked
    | CaPaused
    | EntitlementLapsed
    | EntitlementRestored
    | HubReported
    | DuplicateMarked
    | DuplicateResolved
    | AdminChanged
    | PortalLogin
)
E = TypeVar(
    "E",
    CertificateGranted,
    CertificateIssued,
    RequestRefused,
    CertificateRevoked,
    CaPaused,
    EntitlementLapsed,
    EntitlementRestored,
    HubReported,
    DuplicateMarked,
    DuplicateResolved,
    AdminChanged,
    PortalLogin,
)
Unsubscribe = Callable[[], None]


class EventBus:
    """Listeners per event type, plus listeners of every event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[type[Any] | None, Callable[[Any], None]]] = []

    def subscribe(self, kind: type[E], listener: Callable[[E], None]) -> Unsubscribe:
        """Call ``listener`` with every event of type ``kind``; returns the way to stop."""
        return self._add(kind, listener)

    def subscribe_all(self, listener: Callable[[Event], None]) -> Unsubscribe:
        return self._add(None, listener)

    def _add(self, kind: type[Any] | None, listener: Callable[[Any], None]) -> Unsubscribe:
        entry = (kind, listener)
        with self._lock:
            self._listeners = [*self._listeners, entry]

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = [e for e in self._listeners if e is not entry]

        return unsubscribe

    def publish(self, event: Event) -> None:
        for kind, listener in self._listeners:  # a copy: (un)subscribing replaces the list
            if kind is not None and not isinstance(event, kind):
                continue
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed on %s", type(event).__name__)
