"""``boxcert dns serve --metrics-listen HOST:PORT``: ``/metrics`` and ``/healthz`` over HTTP.

A separate listener, off unless asked (9153 is CoreDNS's port for the same), so the DNS port
never speaks HTTP. It runs on the DNS server's own event loop (with ``--workers``, in worker
0's), through :func:`boxcert.httpserver.serve` like every HTTP server of ours.

- ``GET /metrics``: Prometheus text, the totals of the count table (:mod:`.counters`) over
  every worker — ``boxcert_dns_queries_total{protocol, path, qtype, rcode}`` and
  ``boxcert_dns_dropped_total{reason}`` — made when asked, so the query path never touches
  prometheus-client. No label holds a name or an address.
- ``GET /healthz``: the zone's data source (the issuer's ``txt_records``) can be read: one
  read given :data:`DATA_WAIT` seconds, on every call. 200 ``{"status": "ok", "zone",
  "checks": {"zone_data": "ok"}}``, or 503 with ``"status": "failing"`` and a short reason
  that never says where the data lives (the log does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from boxcert.dns import counters
from boxcert.dns.zonedata import TxtSource

log = logging.getLogger(__name__)

DEFAULT_PORT = 9153
DATA_WAIT = 3.0
OK = "ok"


class _TableCollector(Collector):
    def __init__(self, totals: Callable[[], list[int]]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[Metric]:
        return counters.families(self._totals())


async def check_zone_data(data: TxtSource, wait: float = DATA_WAIT) -> str:
    """``ok``, or a short reason the zone's data cannot be read."""
    try:
        await asyncio.wait_for(asyncio.to_thread(data.load), wait)
    except TimeoutError:
        log.warning("health: the zone data did not answer within %.0f s", wait)
        return "the zone data does not answer"
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("health: the zone data cannot be read: %s", first)
        return "the zone data cannot be read"
    return OK


def create_metrics_app(zone: str, totals: Callable[[], list[int]], data: TxtSource) -> ASGIApp:
    """The listener's app: ``totals`` gives the count table's sums, ``data`` is read by the
    health check."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_TableCollector(totals))

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def health(_: Request) -> Response:
        result = await check_zone_data(data)
        answer: dict[str, object] = {
            "status": OK if result == OK else "failing",
            "zone": zone,
            "checks": {"zone_data": result},
        }
        if result != OK:
            answer["failing"] = ["zone_data"]
        return JSONResponse(
            answer,
            status_code=200 if result == OK else 503,
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
