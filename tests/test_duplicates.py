"""Duplicate databases: hubs report (signed), two installations of one UUID mark it duplicate,
the vendor keeps one. The rules as a table, the report's signature and replay checks through
the real app, and the whole story with real processes: an issuer, two hubs, boxes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from boxcert.issuer.app import create_app
from boxcert.issuer.duplicates import WINDOW, duplicate_fingerprints
from boxcert.issuer.hotcache import STALE_BOUND
from boxcert.issuer.store import audit
from boxcert.issuer.store.rows import AuditRecord, SightingRow
from boxcert.wire.hubreport import HubReport, report_key
from tests.helpers import BoxHome, IssuerProcess, cli, start_issuer
from tests.hub_running import HubProcess, start_hub
from tests.issuer_support import Issuer, make_issuer

NOW = datetime(2026, 6, 1, tzinfo=UTC)
A, B, C = "a" * 32, "b" * 32, "c" * 32


def seen(fp: str, days_ago: float, verdict: str = "reported") -> SightingRow:
    last = NOW - timedelta(days=days_ago)
    return SightingRow("u", fp, last - timedelta(days=1), last, verdict)


@pytest.mark.parametrize(
    ("rows", "duplicate"),
    [
        ([], ()),
        ([seen(A, 0)], ()),
        ([seen(A, 0), seen(B, 1)], (A, B)),
        ([seen(A, 0), seen(B, 29.9)], (A, B)),
        ([seen(A, 0), seen(B, 30.1)], ()),  # B stopped reporting over 30 days ago
        ([seen(A, 0, "kept"), seen(B, 0, "dismissed")], ()),
        ([seen(A, 0, "kept"), seen(B, 0, "dismissed"), seen(C, 0)], (A, C)),  # a third copy
    ],
)
def test_duplicate_rule(rows: list[SightingRow], duplicate: tuple[str, ...]) -> None:
    assert timedelta(days=30) == WINDOW
    assert duplicate_fingerprints(rows, NOW) == duplicate


def test_the_report_key_and_signature() -> None:
    report = HubReport.signed("C-CODE-1", "DB-1", A, NOW)
    assert report.db_uuid == "db-1"
    assert report.verify(report_key("C-CODE-1"))
    assert report.verify(report_key("  C-CODE-1 "))  # codes are compared trimmed
    assert not report.verify(report_key("C-CODE-2"))
    tampered = HubReport(report.db_uuid, B, report.reported_at, report.signature)
    assert not tampered.verify(report_key("C-CODE-1"))
    assert "C-CODE-1" not in str(report.to_json())


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[tuple[Issuer, httpx.AsyncClient]]:
    made = make_issuer(tmp_path)
    made.clock.now = NOW
    made.register("db-1", "C-REPORT-000001")
    transport = httpx.ASGITransport(app=create_app(made.service))
    yield made, httpx.AsyncClient(transport=transport, base_url="http://issuer.test")
    made.service.close()


async def test_reports_through_the_app(issuer: tuple[Issuer, httpx.AsyncClient]) -> None:
    made, client = issuer
    path = "/iot/hub/report"

    def signed(fp: str, at: datetime, code: str = "C-REPORT-000001", db: str = "db-1") -> object:
        return HubReport.signed(code, db, fp, at).to_json()

    first = await client.post(path, json=signed(A, NOW))
    assert first.status_code == 200 and first.json() == {
        "result": {"accepted": True, "duplicate": False}
    }
    replay = await client.post(path, json=signed(A, NOW))
    assert replay.status_code == 409
    wrong = await client.post(path, json=signed(A, NOW + timedelta(seconds=1), "C-WRONG"))
    assert wrong.status_code == 403
    unknown = await client.post(path, json=signed(A, NOW, db="db-nobody"))
    assert unknown.status_code == 403
    assert unknown.json()["error"]["message"] == wrong.json()["error"]["message"]
    stale = await client.post(path, json=signed(A, NOW - timedelta(hours=1)))
    assert stale.status_code == 400 and "clock" in stale.json()["error"]["message"]
    for body in ({}, {"params": {"db_uuid": "db-1"}}, {"params": {**_p(A), "fingerprint": "x"}}):
        assert (await client.post(path, json=body)).status_code == 400
    second = await client.post(path, json=signed(B, NOW + timedelta(minutes=1)))
    assert second.json()["result"]["duplicate"] is True
    kinds = [e.kind for e in _entries(made)]
    assert kinds.count("hub_report") == 2 and kinds.count("duplicate_marked") == 1


def _p(fp: str) -> dict[str, str]:
    params: dict[str, str] = HubReport.signed("C-REPORT-000001", "db-1", fp, NOW).to_json()[
        "params"
    ]
    return params


def _entries(made: Issuer) -> list[AuditRecord]:
    assert made.service.audit is not None
    made.service.audit.flush()
    with made.sessions.begin() as s:
        return list(reversed(audit.entries(s)))


# --- the story with real processes -----------------------------------------------------------


def _hub(root: Path, name: str, issuer: IssuerProcess, db_uuid: str, code: str) -> HubProcess:
    data = root / name
    status, out = cli(
        "hub",
        "configure",
        "--data",
        str(data),
        "--db-uuid",
        db_uuid,
        "--enterprise-code",
        "-",
        "--issuer",
        issuer.url,
        input=code + "\n",
    )
    assert status == 0, out
    return start_hub(data)


def _installations(issuer: IssuerProcess, db_uuid: str, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 60
    while True:
        _status, out = cli(
            "issuer",
            "database",
            "installations",
            "--data",
            str(issuer.data_dir),
            "--uuid",
            db_uuid,
            "--json",
            stdout_only=True,
        )
        rows = json.loads(out)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_two_hubs_one_uuid(tmp_path: Path) -> None:
    db_uuid, code = "6f2b8e0a-0000-4000-8000-00000000dup1", "C-DUPLICATE-STORY-1"
    issuer = start_issuer(tmp_path / "issuer", "--lifecycle-interval", "0.2")
    hubs: list[HubProcess] = []
    try:
        issuer.add_eligible(db_uuid, code)
        hubs.append(_hub(tmp_path, "hub-a", issuer, db_uuid, code))
        assert len(_installations(issuer, db_uuid, 1)) == 1
        box = BoxHome(tmp_path / "box-1")
        box.configure(
            "--server",
            hubs[0].url,
            "--db-uuid",
            db_uuid,
            "--enterprise-code",
            code,
            "--issuer",
            issuer.url,
            "--trust-ca",
            str(issuer.root_pem),
        )
        assert box.ensure()[0] == 0

        hubs.append(_hub(tmp_path, "hub-b", issuer, db_uuid, code))  # a copy on another server
        rows = _installations(issuer, db_uuid, 2)
        assert len(rows) == 2
        # The mark is made by the worker the hub's report reached; another worker's answers
        # follow it within the hot cache's staleness bound (issuer/hotcache.py, point 3).
        time.sleep(STALE_BOUND + 0.1)
        copy = BoxHome(tmp_path / "box-2")
        copy.configure(
            "--server",
            hubs[1].url,
            "--db-uuid",
            db_uuid,
            "--enterprise-code",
            code,
            "--issuer",
            issuer.url,
            "--trust-ca",
            str(issuer.root_pem),
        )
        status, report = copy.ensure()
        assert status == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
        assert report["refusal"]["code"] == "database_duplicate"
        assert "Two installations" in report["detail"]

        status, out = cli("hub", "fingerprint", "--data", str(tmp_path / "hub-a"))
        keep = out.strip()
        assert keep in {r["fingerprint"] for r in rows}
        status, out = cli(
            "issuer",
            "database",
            "resolve-duplicate",
            "--data",
            str(issuer.data_dir),
            "--uuid",
            db_uuid,
            "--keep",
            keep,
        )
        assert status == 0, out
        issuer.settle()  # resolved by another process
        assert copy.ensure()[0] == 0  # eligible again

        # the copy keeps reporting: accepted, but it no longer counts
        status, out = cli("hub", "report", "--data", str(tmp_path / "hub-b"))
        assert status == 0 and out.strip().endswith(": ok"), out
        verdicts = {r["fingerprint"]: r["verdict"] for r in _installations(issuer, db_uuid, 2)}
        assert verdicts[keep] == "kept" and sorted(verdicts.values()) == ["dismissed", "kept"]

        status, out = cli(
            "issuer",
            "audit",
            "--data",
            str(issuer.data_dir),
            "--database",
            db_uuid,
            "--json",
            stdout_only=True,
        )
        kinds = [e["kind"] for e in reversed(json.loads(out))]
        for kind in ("hub_report", "issued", "duplicate_marked", "refused", "duplicate_resolved"):
            assert kind in kinds, kinds
        assert (
            kinds.index("duplicate_marked")
            < kinds.index("refused")
            < kinds.index("duplicate_resolved")
        )
        logs = issuer.log() + "".join(h.log() + h.stdout for h in hubs) + out
        logs += box.log() + copy.log()
        assert code not in logs
        assert all(h.password not in h.log() for h in hubs)
    finally:
        for hub in hubs:
            hub.stop()
        issuer.stop()
