"""The standing question's messages (boxcert.wire.standing) and the hub report's parser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from boxcert.wire import RefusalAnswer, WireError
from boxcert.wire.hubreport import HubReport, HubReportAnswer
from boxcert.wire.standing import (
    Standing,
    StandingAnswer,
    StandingQuery,
    normalize_serial,
    parse_standing,
)

AT = datetime(2026, 4, 1, tzinfo=UTC)


def test_query_round_trip() -> None:
    query = StandingQuery("db-1", "C-1", "0a1b")
    parsed = StandingQuery.from_json(query.to_json())
    assert parsed == StandingQuery("db-1", "C-1", "a1b")
    assert "C-1" not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "serial"),
    [("0A1B", "a1b"), ("0x00ff", "ff"), ("0", "0"), (" 7 ", "7"), ("f" * 40, "f" * 40)],
)
def test_serials(text: str, serial: str) -> None:
    assert normalize_serial(text) == serial


@pytest.mark.parametrize("text", ["", "xyz", "1" * 41, "12 34", "-1"])
def test_bad_serials(text: str) -> None:
    with pytest.raises(WireError):
        normalize_serial(text)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"params": []},
        {"params": {"db_uuid": "u", "enterprise_code": "c"}},
        {"params": {"db_uuid": "u", "enterprise_code": "c", "serial": 12}},
        {"params": {"db_uuid": "u\x00", "enterprise_code": "c", "serial": "1"}},
        {"params": {"db_uuid": "u" * 300, "enterprise_code": "c", "serial": "1"}},
    ],
)
def test_bad_queries(body: Any) -> None:
    with pytest.raises(WireError):
        StandingQuery.from_json(body)


def test_answers_round_trip() -> None:
    revoked = StandingAnswer("ab", Standing.REVOKED, AT, "subscription_not_in_progress", "closed")
    assert parse_standing(revoked.to_json()) == revoked
    good = StandingAnswer("ab", Standing.GOOD)
    assert parse_standing(good.to_json()) == good
    refusal = parse_standing({"result": {"error": {"code": "x", "message": "\x1b[31mred"}}})
    assert refusal == RefusalAnswer("x", "?[31mred")


@pytest.mark.parametrize(
    "body", [None, {}, {"result": []}, {"result": {"standing": "maybe"}}, {"error": {}}]
)
def test_unusable_answers(body: Any) -> None:
    assert parse_standing(body) is None


def test_hub_report_parsing() -> None:
    report = HubReport.signed("C-1", "db-1", "a" * 32, AT)
    assert HubReport.from_json(report.to_json()) == report
    for change in (
        {"fingerprint": "A" * 32},
        {"reported_at": "yesterday"},
        {"db_uuid": "DB-1"},
        {"signature": ""},
        {"db_uuid": 5},
    ):
        body = report.to_json()
        body["params"].update(change)
        with pytest.raises(WireError):
            HubReport.from_json(body)
    assert HubReportAnswer.from_json(HubReportAnswer(True, True).to_json()).duplicate
    with pytest.raises(WireError):
        HubReportAnswer.from_json({"result": {}})
