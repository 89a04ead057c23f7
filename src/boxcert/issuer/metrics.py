"""The issuer's Prometheus metrics (``GET /metrics``), with prometheus-client.

Counted from the event bus (:mod:`.events`), so every path that grants or refuses is counted
the same way:

- ``boxcert_issuer_grants_total{holder, source}`` — certificates handed out; ``holder`` is
  ``box`` or ``database`` (the no-CSR exchange), ``source`` ``cache`` or ``ca``;
- ``boxcert_issuer_issued_total{holder, kind}`` — new certificates from the CA (``first`` or
  ``renewal``);
- ``boxcert_issuer_refusals_total{code}`` — refusals by refusal code (:mod:`boxcert.wire.
  refusals`);
- ``boxcert_issuer_revocations_total{reason}`` — revocations by RFC 5280 reason;

measured per request by the access log (:mod:`.access`):

- ``boxcert_issuer_request_seconds{route, status}`` — a histogram of the time from the request
  to its answer, ``route`` a small fixed set (``x509``, ``standing``, ``hub_report``, ``crl``,
  ``healthz``, ``metrics``, ``info``, ``admin_api``, ``portal``, ``other``) and ``status`` the
  class (``2xx`` …);

and read from the database when scraped (at most every :data:`SCRAPE_EVERY`):

- ``boxcert_issuer_certificate_expiry_seconds{certificate}`` — seconds until the soonest
  current issued certificate ends (``issued_soonest``; current: neither revoked, expired nor
  replaced by a renewal), and for the local CA its ``ca_root`` and ``ca_intermediate``;
- ``boxcert_issuer_current_certificates{expires_within}`` — current issued certificates ending
  within 1 day, 7 days, 30 days, or ``+Inf`` (cumulative, like histogram buckets).

With ``--workers`` the figures are prometheus-client's multiprocess mode: every worker writes
its own files in the directory the parent made (``PROMETHEUS_MULTIPROC_DIR``) and the worker
that answers ``/metrics`` adds them up. No label ever holds a uuid, a label, a code or a key.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from boxcert.accesslog import status_class
from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.db import run_in_session
from boxcert.issuer.events import (
    CertificateGranted,
    CertificateIssued,
    CertificateRevoked,
    EventBus,
    RequestRefused,
)
from boxcert.issuer.models import Certificate

__all__ = ["CONTENT_TYPE", "IssuerMetrics", "route_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
SCRAPE_EVERY = 30.0  # seconds between two reads of the database for the gauges
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
EXPIRY_BUCKETS = (("1d", timedelta(days=1)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))

_ROUTES = {
    "/iot/x509": "x509",
    "/odoo-enterprise/iot/x509": "x509",
    "/iot/x509/standing": "standing",
    "/iot/hub/report": "hub_report",
    "/iot/info": "info",
    "/ca/crl": "crl",
    "/healthz": "healthz",
    "/metrics": "metrics",
    "/openapi.json": "admin_api",
}


def route_of(path: str) -> str:
    """The ``route`` label of a request path (a fixed, small set)."""
    found = _ROUTES.get(path)
    if found is not None:
        return found
    if path.startswith("/api/"):
        return "admin_api"
    if path == "/" or path.startswith(("/my/", "/login", "/logout", "/static/")):
        return "portal"
    return "other"


class IssuerMetrics:
    """The metrics of one issuer process; see the module docstring."""

    def __init__(
        self,
        events: EventBus,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        clock: Clock,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self._sessions = sessions
        self._ca = ca
        self._clock = clock
        r = self.registry
        self.grants = Counter(
            "boxcert_issuer_grants", "Certificates handed out.", ["holder", "source"], registry=r
        )
        self.issued = Counter(
            "boxcert_issuer_issued",
            "Certificates issued by the CA.",
            ["holder", "kind"],
            registry=r,
        )
        self.refusals = Counter(
            "boxcert_issuer_refusals", "Requests refused, by refusal code.", ["code"], registry=r
        )
        self.revocations = Counter(
            "boxcert_issuer_revocations", "Certificates revoked, by reason.", ["reason"], registry=r
        )
        self.latency = Histogram(
            "boxcert_issuer_request_seconds",
            "Time from a request to its answer.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._latency_children: dict[tuple[str, str], Histogram] = {}
        self._gauges = _DatabaseGauges(sessions, ca, clock)
        if not self.multiprocess:
            r.register(self._gauges)
        events.subscribe(CertificateGranted, self._granted)
        events.subscribe(CertificateIssued, self._issued)
        events.subscribe(RequestRefused, self._refused)
        events.subscribe(CertificateRevoked, self._revoked)

    def _granted(self, event: CertificateGranted) -> None:
        holder = "box" if event.for_box else "database"
        self.grants.labels(holder, "cache" if event.from_cache else "ca").inc()

    def _issued(self, event: CertificateIssued) -> None:
        holder = "box" if event.for_box else "database"
        self.issued.labels(holder, "renewal" if event.renewal else "first").inc()

    def _refused(self, event: RequestRefused) -> None:
        self.refusals.labels(event.code.value).inc()

    def _revoked(self, event: CertificateRevoked) -> None:
        self.revocations.labels(event.reason).inc()

    def observe(self, path: str, status: int, seconds: float) -> None:
        key = (route_of(path), status_class(status))
        child = self._latency_children.get(key)
        if child is None:
            child = self._latency_children[key] = self.latency.labels(*key)
        child.observe(seconds)

    async def render(self) -> bytes:
        """The text exposition of every figure (every worker's, with ``--workers``)."""
        await self._gauges.update()
        if not self.multiprocess:
            return generate_latest(self.registry)

        def collect() -> bytes:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self._gauges)
            return generate_latest(registry)

        return await asyncio.to_thread(collect)


class _DatabaseGauges(Collector):
    """Gauges read from the database (and the local CA's files), kept for SCRAPE_EVERY."""

    def __init__(self, sessions: sessionmaker[Session], ca: CertificateAuthority, clock: Clock):
        self._sessions = sessions
        self._ca = ca
        self._clock = clock
        self._read_at = float("-inf")
        self._expiry: dict[str, float] = {}
        self._counts: list[tuple[str, int]] = []
        self._lock = asyncio.Lock()

    async def update(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < SCRAPE_EVERY:
                return
            now = self._clock()
            soonest, counts = await run_in_session(self._sessions, lambda s: _current(s, now))
            expiry: dict[str, float] = {}
            if soonest is not None:
                expiry["issued_soonest"] = (soonest - now).total_seconds()
            if isinstance(self._ca, LocalCA):
                root = x509.load_pem_x509_certificate(self._ca.root_pem.encode())
                for name, cert in (("root", root), ("intermediate", self._ca.intermediate)):
                    expiry[f"ca_{name}"] = (cert.not_valid_after_utc - now).total_seconds()
            self._expiry, self._counts = expiry, counts
            self._read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        expiry = GaugeMetricFamily(
            "boxcert_issuer_certificate_expiry_seconds",
            "Seconds until a certificate ends.",
            labels=["certificate"],
        )
        for name, seconds in sorted(self._expiry.items()):
            expiry.add_metric([name], seconds)
        yield expiry
        current = GaugeMetricFamily(
            "boxcert_issuer_current_certificates",
            "Current issued certificates (not revoked, expired or renewed) by time left.",
            labels=["expires_within"],
        )
        for within, count in self._counts:
            current.add_metric([within], count)
        yield current


def _current(session: Session, now: datetime) -> tuple[datetime | None, list[tuple[str, int]]]:
    """The soonest end of a current certificate, and how many end within each bucket."""
    renewal = aliased(Certificate)
    replaced = select(renewal.id).where(renewal.replaces_id == Certificate.id).exists()
    columns: list[Any] = [func.min(Certificate.not_after), func.count()]
    columns += [
        func.sum(case((Certificate.not_after <= now + span, 1), else_=0))
        for _, span in EXPIRY_BUCKETS
    ]
    row = session.execute(
        select(*columns).where(
            and_(Certificate.revoked_at.is_(None), Certificate.not_after > now, ~replaced)
        )
    ).one()
    soonest, total, *within = row
    counts = [(name, int(n or 0)) for (name, _), n in zip(EXPIRY_BUCKETS, within, strict=True)]
    counts.append(("+Inf", int(total or 0)))
    return soonest, counts
