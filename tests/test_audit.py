"""The audit log (boxcert.issuer.audit): each event's entry as a table, repeated refusals
folded, the writer thread, and ``boxcert issuer audit`` with its filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.issuer.audit import AuditKind, AuditRecorder, record_of
from boxcert.issuer.cli_access import parse_since
from boxcert.issuer.events import (
    AdminChanged,
    CaPaused,
    CertificateGranted,
    CertificateIssued,
    CertificateRevoked,
    DuplicateMarked,
    DuplicateResolved,
    EntitlementLapsed,
    EntitlementRestored,
    Event,
    HubReported,
    PortalLogin,
    RequestRefused,
)
from boxcert.issuer.store import audit
from boxcert.wire import RefusalCode
from tests.helpers import cli, cli_json
from tests.issuer_support import sessions_for, sqlite_url

AT = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
NAMES = ("*.lbl.iot.example", "lbl.iot.example")


@pytest.mark.parametrize(
    ("event", "kind", "actor", "db", "code", "says"),
    [
        (
            CertificateIssued(
                AT, "u1", "lbl", True, NAMES, "ab", "local", "iot.example", AT, False
            ),
            AuditKind.ISSUED,
            "issuer",
            "u1",
            None,
            "issued lbl.iot.example for a box",
        ),
        (
            CertificateIssued(AT, "u1", "lbl", False, NAMES, "ab", "acme", "iot.example", AT, True),
            AuditKind.ISSUED,
            "issuer",
            "u1",
            None,
            "renewed",
        ),
        (
            RequestRefused(AT, "u1", None, RefusalCode.NO_IOT_BOX_LINE, "no line"),
            AuditKind.REFUSED,
            "issuer",
            "u1",
            "no_iot_box_line",
            "refused a request: no line",
        ),
        (
            CertificateRevoked(
                AT,
                "u1",
                "lbl",
                "ab",
                "local",
                "cessationOfOperation",
                RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS,
                "lifecycle",
            ),
            AuditKind.REVOKED,
            "lifecycle",
            "u1",
            "subscription_not_in_progress",
            "reason cessationOfOperation",
        ),
        (
            EntitlementLapsed(AT, "u1", RefusalCode.DATABASE_DUPLICATE, "copy", AT),
            AuditKind.LAPSED,
            "lifecycle",
            "u1",
            "database_duplicate",
            "no longer entitled: copy",
        ),
        (
            EntitlementRestored(AT, "u1", AT - timedelta(days=2)),
            AuditKind.RESTORED,
            "lifecycle",
            "u1",
            None,
            "entitled again",
        ),
        (
            HubReported(AT, "u1", "f" * 32, True),
            AuditKind.HUB_REPORT,
            "hub:" + "f" * 32,
            "u1",
            None,
            "first report",
        ),
        (
            DuplicateMarked(AT, "u1", ("a" * 32, "b" * 32)),
            AuditKind.DUPLICATE_MARKED,
            "issuer",
            "u1",
            "database_duplicate",
            "a" * 32,
        ),
        (
            DuplicateResolved(AT, "u1", "a" * 32, "cli"),
            AuditKind.DUPLICATE_RESOLVED,
            "cli",
            "u1",
            None,
            "kept installation",
        ),
        (
            AdminChanged(AT, "admin-api:billing", "subscription #3: state closed", None, 3),
            AuditKind.ADMIN_CHANGE,
            "admin-api:billing",
            None,
            None,
            "state closed",
        ),
        (
            PortalLogin(AT, "a@b.example", ok=True),
            AuditKind.PORTAL_LOGIN,
            "portal:a@b.example",
            None,
            None,
            "logged in",
        ),
        (
            PortalLogin(AT, "", ok=False),
            AuditKind.PORTAL_LOGIN_FAILED,
            "portal",
            None,
            None,
            "unknown name",
        ),
    ],
)
def test_record_of(
    event: Event, kind: AuditKind, actor: str, db: str | None, code: str | None, says: str
) -> None:
    entry = record_of(event)
    assert entry is not None
    assert (entry.kind, entry.actor, entry.db_uuid, entry.code) == (kind, actor, db, code)
    assert says in entry.detail
    assert entry.at == AT


@pytest.mark.parametrize(
    "event",
    [
        CertificateGranted(AT, "u1", "lbl", True, "ab", AT, True),  # the cache, again
        CaPaused(AT, "acme", "iot.example", AT, "slow down"),
    ],
)
def test_events_not_kept(event: Event) -> None:
    assert record_of(event) is None


def test_the_recorder_folds_repeated_refusals(tmp_path: Path) -> None:
    sessions = sessions_for(sqlite_url(tmp_path))
    recorder = AuditRecorder(sessions)
    refused = RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS
    for minute in (0, 1, 2, 3, 11, 12):  # a box backing off; the window is 10 minutes
        recorder.record(RequestRefused(AT + timedelta(minutes=minute), "u1", "l", refused, "x"))
    recorder.record(RequestRefused(AT, "u2", "l", refused, "x"))  # another database
    recorder.close()
    with sessions.begin() as s:
        entries = sorted(audit.entries(s), key=lambda e: (e.db_uuid or "", e.at))
    assert [(e.db_uuid, e.at.minute) for e in entries] == [("u1", 0), ("u1", 11), ("u2", 0)]
    assert entries[1].detail.endswith("(and 3 more like it before)")


def test_parse_since() -> None:
    now = AT
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_since("2026-03-01T10:00+02:00", now) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("last week", now)


def test_the_audit_command(tmp_path: Path) -> None:
    data = str(tmp_path / "issuer")
    code = "C-AUDIT-CLI-00042"
    assert (
        cli(
            "issuer",
            "subscription",
            "add",
            "--data",
            data,
            "--code",
            code,
            "--line",
            "IoT Box Subscription",
        )[0]
        == 0
    )
    assert (
        cli(
            "issuer",
            "database",
            "add",
            "--data",
            data,
            "--uuid",
            "DB-Audit",
            "--subscription",
            code,
        )[0]
        == 0
    )
    assert (
        cli(
            "issuer",
            "database",
            "set-kind",
            "--data",
            data,
            "--uuid",
            "db-audit",
            "--kind",
            "staging",
        )[0]
        == 0
    )
    status, rows = cli_json("issuer", "audit", "--data", data, "--json")
    assert status == 0
    assert [r["kind"] for r in rows] == ["admin_change"] * 3
    assert rows[0]["detail"] == "database kind staging" and rows[0]["database"] == "db-audit"
    assert all(r["actor"] == "cli" for r in rows)
    assert code not in json.dumps(rows)
    status, only = cli_json("issuer", "audit", "--data", data, "--database", "DB-AUDIT", "--json")
    assert len(only) == 2
    status, none = cli_json("issuer", "audit", "--data", data, "--since", "2999-01-01", "--json")
    assert none == []
    status, out = cli("issuer", "audit", "--data", data)
    assert status == 0 and "created subscription #1" in out
    status, out = cli("issuer", "audit", "--data", data, "--since", "soon")
    assert status == 2 and "--since" in out and "Traceback" not in out
