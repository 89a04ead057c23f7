"""The hub's Prometheus metrics (``GET /metrics``), with prometheus-client.

Counted at the HTTP boundary (:mod:`.app`) as each request is decided:

- ``boxcert_hub_pairings_total{outcome}`` — pairing requests: ``paired``, a pairing refusal
  code (``token_unknown``, ``token_used``, ``token_expired``, ``token_malformed``,
  ``hub_not_configured``), or ``bad_request``;
- ``boxcert_hub_reports_total{kind, outcome}`` — reports from boxes, ``kind`` ``box`` (a paired
  box, with its secret) or ``legacy`` (a vendor box's legacy report), ``outcome`` one of
  ``accepted``, ``unauthorized``, ``forbidden``, ``unknown_box``, ``bad_request``;

measured per request by the access log (:mod:`boxcert.accesslog`):

- ``boxcert_hub_request_seconds{route, status}`` — a histogram of the time from the request to
  its answer, ``route`` one of :data:`ROUTES` and ``status`` the class (``2xx`` …);

and read from the hub's database when scraped, at most every :data:`SCRAPE_EVERY` seconds:

- ``boxcert_hub_boxes{kind, state}`` — the boxes the hub knows, by kind and by the state they
  last reported (``ok``, ``need_refresh``, ``error``; ``none`` before a first report);
- ``boxcert_hub_certificate_expiry_seconds`` — seconds until the soonest certificate end a box
  reported (negative once it has passed; absent while no box reported one);
- ``boxcert_hub_silent_boxes`` — boxes not heard from for two days or more (the pages' "silent"
  badge, :data:`.view.SILENCE`): a box switched off, moved, or unable to reach the hub, which
  no report will tell about.

No label ever holds an identifier, a name, an address, a token or a code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from boxcert.accesslog import status_class
from boxcert.clock import Clock, system_clock
from boxcert.hub import store
from boxcert.hub.view import SILENCE
from boxcert.wire.hub import CONNECT_PATH, LEGACY_REPORT_PATH, REPORT_PATH

__all__ = ["CONTENT_TYPE", "ROUTES", "HubMetrics", "route_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
SCRAPE_EVERY = 30.0  # seconds between two reads of the database for the gauges
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUTES = (
    "connect",
    "report",
    "legacy_report",
    "healthz",
    "metrics",
    "pages",
    "api",
    "static",
    "other",
)
_EXACT = {
    CONNECT_PATH: "connect",
    REPORT_PATH: "report",
    LEGACY_REPORT_PATH: "legacy_report",
    "/healthz": "healthz",
    "/metrics": "metrics",
    "/": "pages",
    "/boxes": "pages",
    "/tokens": "pages",
    "/forget": "pages",
    "/login": "pages",
    "/logout": "pages",
    "/api/boxes": "api",
}


def route_of(path: str) -> str:
    """The ``route`` label of a request path (one of :data:`ROUTES`)."""
    found = _EXACT.get(path)
    if found is not None:
        return found
    if path.startswith("/boxes/"):
        return "pages"
    if path.startswith("/api/boxes/"):
        return "api"
    if path.startswith("/static/"):
        return "static"
    return "other"


def is_known_path(path: str) -> bool:
    """Shown as is in the access log: one of the fixed routes (a box's page is not: its
    identifier is whatever the box sent)."""
    return path in _EXACT


class HubMetrics:
    """The metrics of one hub process; see the module docstring. ``monotonic`` paces the
    database reads, ``clock`` gives the time the expiry is counted from."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pairings = Counter(
            "boxcert_hub_pairings", "Pairing requests, by outcome.", ["outcome"], registry=r
        )
        self.reports = Counter(
            "boxcert_hub_reports",
            "Reports from boxes, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "boxcert_hub_request_seconds",
            "Time from a request to its answer.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._gauges = _StoreGauges(sessions, clock, monotonic)
        r.register(self._gauges)

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.latency.labels(route_of(path), status_class(status)).observe(seconds)

    def paired(self, outcome: str) -> None:
        self.pairings.labels(outcome).inc()

    def reported(self, kind: str, outcome: str) -> None:
        self.reports.labels(kind, outcome).inc()

    async def render(self) -> bytes:
        """The text exposition of every figure, the gauges read again when due."""
        await self._gauges.update()
        return generate_latest(self.registry)


class _StoreGauges(Collector):
    """Gauges read from the hub's database, kept for SCRAPE_EVERY."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, monotonic: Callable[[], float]
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._monotonic = monotonic
        self._read_at: float | None = None
        self._counts: list[tuple[str, str, int]] = []
        self._expiry: float | None = None
        self._silent = 0
        self._lock = asyncio.Lock()

    async def update(self) -> None:
        async with self._lock:
            read_at = self._read_at
            if read_at is not None and self._monotonic() - read_at < SCRAPE_EVERY:
                return

            now = self._clock()

            def read() -> tuple[list[tuple[str, str, int]], datetime | None, int]:
                with self._sessions.begin() as session:
                    return (
                        store.box_counts(session),
                        store.soonest_certificate_end(session),
                        store.silent_boxes(session, now - SILENCE),
                    )

            counts, soonest, self._silent = await asyncio.to_thread(read)
            self._counts = counts
            self._expiry = None if soonest is None else (soonest - now).total_seconds()
            self._read_at = self._monotonic()

    def collect(self) -> Iterable[Metric]:
        boxes = GaugeMetricFamily(
            "boxcert_hub_boxes",
            "Boxes known to the hub, by kind and last reported state.",
            labels=["kind", "state"],
        )
        for kind, state, count in self._counts:
            boxes.add_metric([kind, state], count)
        yield boxes
        expiry = GaugeMetricFamily(
            "boxcert_hub_certificate_expiry_seconds",
            "Seconds until the soonest certificate end a box reported.",
        )
        if self._expiry is not None:
            expiry.add_metric([], self._expiry)
        yield expiry
        yield GaugeMetricFamily(
            "boxcert_hub_silent_boxes",
            "Boxes not heard from for two days or more.",
            value=self._silent,
        )
