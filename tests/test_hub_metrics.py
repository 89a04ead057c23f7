"""The hub's ``/metrics`` (hub/metrics.py) and ``/healthz`` (hub/health.py), over a real socket:
pairings and reports counted by outcome, requests timed by route and status class, boxes by
state and the soonest certificate end read from the hub's database at most every 30 s (an
injected monotonic clock), and a health check that looks at the database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from boxcert import httpserver
from boxcert.hub.app import create_app
from boxcert.hub.metrics import SCRAPE_EVERY, HubMetrics, route_of
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig, HubService
from boxcert.wire.hub import BoxReport, BoxState, LegacyReport, PairingToken
from tests.hub_running import BoxClient, legacy_report

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CODE = "C-HUB-METRICS-5e1f"


def value(text: str, name: str, **labels: str) -> float | None:
    wanted = tuple(sorted(labels.items()))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and tuple(sorted(sample.labels.items())) == wanted:
                return sample.value
    return None


@dataclass
class Running:
    service: HubService
    url: str
    ticks: list[float]

    def scrape(self) -> str:
        answer = httpx.get(self.url + "/metrics", timeout=30)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert "set-cookie" not in answer.headers
        return answer.text


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Running]:
    ticks = [1000.0]
    service = open_service(tmp_path / "hub", None, clock=lambda: NOW)
    service.configure(HubConfig("db-metrics", CODE, "https://issuer.test", "iot.example.test"))
    metrics = HubMetrics(service.sessions, clock=lambda: NOW, monotonic=lambda: ticks[0])
    with httpserver.running(create_app(service, clock=lambda: NOW, metrics=metrics)) as url:
        service.set_public_url(url)
        yield Running(service, url, ticks)


def test_pairings_reports_and_requests_are_counted(hub: Running) -> None:
    box = BoxClient("box-1", "Kitchen")
    box.connect(hub.service.new_token().encode())
    forged = PairingToken(hub.url, hub.service.new_token().token_id, "x" * 43)
    assert BoxClient("box-2").connect_raw(forged.encode()).status_code == 403
    with httpx.Client(timeout=30) as client:
        not_json = client.post(hub.url + "/iot/box/connect", content=b"{nope")
    assert not_json.status_code == 400
    end = NOW + timedelta(days=10)
    assert box.report(BoxReport("box-1", BoxState.OK, certificate_end_date=end)).status_code == 200
    assert box.report(BoxReport("box-2", BoxState.OK)).status_code == 403  # another box's secret
    assert legacy_report(hub.url, LegacyReport("vendor-1", None)).status_code == 404
    hub.service.add_legacy_box("vendor-1", "Old box")
    assert legacy_report(hub.url, LegacyReport("vendor-1", NOW + timedelta(days=3))).is_success

    text = hub.scrape()
    pairings = "boxcert_hub_pairings_total"
    assert value(text, pairings, outcome="paired") == 1
    assert value(text, pairings, outcome="token_unknown") == 1
    assert value(text, pairings, outcome="bad_request") == 1
    reports = "boxcert_hub_reports_total"
    assert value(text, reports, kind="box", outcome="accepted") == 1
    assert value(text, reports, kind="box", outcome="forbidden") == 1
    assert value(text, reports, kind="legacy", outcome="unknown_box") == 1
    assert value(text, reports, kind="legacy", outcome="accepted") == 1
    latency = "boxcert_hub_request_seconds_count"
    assert value(text, latency, route="connect", status="2xx") == 1
    assert value(text, latency, route="connect", status="4xx") == 2
    assert value(text, latency, route="report", status="4xx") == 1
    assert value(text, latency, route="metrics", status="2xx") is None  # counted once answered
    assert value(text, "boxcert_hub_boxes", kind="paired", state="ok") == 1
    assert value(text, "boxcert_hub_boxes", kind="legacy", state="none") == 1
    expiry = "boxcert_hub_certificate_expiry_seconds"
    assert value(text, expiry) == timedelta(days=3).total_seconds()
    for private in ("box-1", "Kitchen", "vendor-1", CODE, "db-metrics"):
        assert private not in text


def test_the_gauges_are_read_at_most_every_30_seconds(hub: Running) -> None:
    text = hub.scrape()
    assert value(text, "boxcert_hub_boxes", kind="legacy", state="none") is None
    assert value(text, "boxcert_hub_certificate_expiry_seconds") is None  # no box reported one
    hub.service.add_legacy_box("vendor-2", "")
    hub.ticks[0] += SCRAPE_EVERY - 1
    assert value(hub.scrape(), "boxcert_hub_boxes", kind="legacy", state="none") is None
    hub.ticks[0] += 1
    text = hub.scrape()
    assert value(text, "boxcert_hub_boxes", kind="legacy", state="none") == 1
    assert value(text, "boxcert_hub_request_seconds_count", route="metrics", status="2xx") == 2


def test_boxes_silent_for_two_days_are_counted(tmp_path: Path) -> None:
    """A box not heard from for two days (or, never heard from, added two days ago) is silent,
    as the pages' badge says; a report makes it heard again."""
    now = [NOW]
    ticks = [1000.0]
    service = open_service(tmp_path / "hub", None, clock=lambda: now[0])
    service.configure(HubConfig("db-metrics", CODE, "https://issuer.test", "iot.example.test"))
    metrics = HubMetrics(service.sessions, clock=lambda: now[0], monotonic=lambda: ticks[0])
    with httpserver.running(create_app(service, clock=lambda: now[0], metrics=metrics)) as url:
        service.set_public_url(url)
        box = BoxClient("box-1", "Kitchen")
        box.connect(service.new_token().encode())
        service.add_legacy_box("vendor-1", "Old box")  # never heard from

        def silent() -> float | None:
            ticks[0] += SCRAPE_EVERY  # the gauges are read again
            answer = httpx.get(url + "/metrics", timeout=30)
            return value(answer.text, "boxcert_hub_silent_boxes")

        assert silent() == 0
        now[0] = NOW + timedelta(days=2) - timedelta(seconds=1)
        assert silent() == 0
        now[0] = NOW + timedelta(days=2)
        assert silent() == 2
        assert box.report(BoxReport("box-1", BoxState.OK)).status_code == 200
        assert silent() == 1  # the old box, still silent


def test_healthz_checks_the_database(hub: Running) -> None:
    answer = httpx.get(hub.url + "/healthz", timeout=30)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "configured": True, "checks": {"database": "ok"}}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    from tests.postgres import pg_bin, running_postgres

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with running_postgres() as cluster:
        service = open_service(tmp_path / "hub", cluster.url)
        with httpserver.running(create_app(service)) as url:
            assert httpx.get(url + "/healthz", timeout=30).status_code == 200
            cluster.stop()
            answer = httpx.get(url + "/healthz", timeout=30)
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "failing",
        "failing": ["database"],
        "checks": {"database": "the database is unreachable"},
    }
    assert "127.0.0.1" not in answer.text and "postgres" not in answer.text


def test_routes_are_a_small_fixed_set() -> None:
    assert route_of("/iot/box/connect") == "connect"
    assert route_of("/boxes/any-box-name") == route_of("/login") == "pages"
    assert route_of("/api/boxes/x") == "api"
    assert route_of("/static/site.css") == "static"
    assert route_of("/x" * 300) == "other"
