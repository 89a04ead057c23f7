"""``GET /metrics`` (issuer/metrics.py): counters move with grants and refusals (by code), the
latency histogram counts requests by route, the expiry gauges read the database; with
``--workers 2`` every worker's figures are added up."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from boxcert.issuer.metrics import route_of
from boxcert.issuer.site import create_site
from tests.issuer_support import Issuer, body, box_csr, make_issuer

DB, CODE = "db-metrics", "C-METRICS-000001"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def _client(issuer: Issuer) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_site(issuer.service))
    return httpx.AsyncClient(transport=transport, base_url="http://issuer.test")


async def test_counters_move_with_a_grant_and_a_refusal(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)
    async with await _client(issuer) as client:
        csr = box_csr()
        for _ in range(2):  # a new certificate, then the same from the cache
            assert "x509_pem" in (await client.post("/iot/x509", json=body(DB, CODE, csr))).text
        refused = await client.post("/iot/x509", json=body(DB, "not the code"))
        assert "credentials_not_recognized" in refused.text
        answer = await client.get("/metrics")
        again = (await client.get("/metrics")).text
    assert answer.headers["content-type"].startswith("text/plain")
    after = answer.text
    grants = "boxcert_issuer_grants_total"
    assert value(after, grants, holder="box", source="ca") == 1
    assert value(after, grants, holder="box", source="cache") == 1
    assert value(after, "boxcert_issuer_issued_total", holder="box", kind="first") == 1
    refusals = value(after, "boxcert_issuer_refusals_total", code="credentials_not_recognized")
    assert refusals == 1
    latency = "boxcert_issuer_request_seconds_count"
    assert value(after, latency, route="x509", status="2xx") == 3
    assert value(after, latency, route="metrics", status="2xx") == 0  # counted once answered
    assert value(again, latency, route="metrics", status="2xx") == 1
    assert value(after, "boxcert_issuer_current_certificates", expires_within="+Inf") == 1
    soonest = value(
        after, "boxcert_issuer_certificate_expiry_seconds", certificate="issued_soonest"
    )
    assert 80 * 86400 < soonest <= 90 * 86400
    assert (
        value(after, "boxcert_issuer_certificate_expiry_seconds", certificate="ca_root") > soonest
    )
    assert CODE not in after and DB not in after  # no label holds a code or a uuid


def test_routes_are_a_small_fixed_set() -> None:
    assert route_of("/iot/x509") == route_of("/odoo-enterprise/iot/x509") == "x509"
    assert route_of("/api/v1/subscriptions/3") == "admin_api"
    assert route_of("/my/databases") == route_of("/") == "portal"
    assert route_of("/anything/" + "x" * 500) == "other"


def test_workers_add_up(tmp_path: Path) -> None:
    """Two workers: requests over new connections land on both; /metrics on either one
    counts all of them."""
    from tests.helpers import start_issuer

    issuer = start_issuer(tmp_path / "issuer", "--workers", "2")
    try:
        issuer.add_eligible(DB, CODE)
        issuer.settle()
        csr = box_csr()
        for _ in range(20):
            with httpx.Client(timeout=30) as client:  # a new connection each time
                assert (
                    "x509_pem"
                    in client.post(issuer.url + "/iot/x509", json=body(DB, CODE, csr)).text
                )
        with httpx.Client(timeout=30) as client:
            text = client.get(issuer.url + "/metrics").text
        total = sum(
            value(text, "boxcert_issuer_grants_total", holder="box", source=source)
            for source in ("ca", "cache")
        )
        assert total == 20
        assert value(text, "boxcert_issuer_request_seconds_count", route="x509", status="2xx") == 20
    finally:
        issuer.stop()
