"""What the hub shows about a box: a pure function of the stored row and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from boxcert import codes
from boxcert.hub.view import box_view, format_ago, format_when

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    identifier: str = "box-1"
    kind: str = "paired"
    name: str = "Till"
    ip: str = "192.168.1.5"
    url: str = "https://192-168-1-5.abc.iot.example"
    certificate_end_date: datetime | None = NOW + timedelta(days=60)
    state: str | None = "ok"
    error_code: str | None = None
    detail: str = ""
    added_at: datetime = NOW - timedelta(days=30)
    last_seen: datetime | None = NOW - timedelta(hours=3)


@pytest.mark.parametrize(
    ("end", "days_left", "soon"),
    [
        (NOW + timedelta(days=60), 60, False),
        (NOW + timedelta(days=14), 14, False),  # "under 14 days" excludes 14 days exactly
        (NOW + timedelta(days=14) - timedelta(seconds=1), 13, True),
        (NOW + timedelta(hours=5), 0, True),
        (NOW - timedelta(hours=5), -1, True),
        (None, None, False),
    ],
)
def test_days_left_and_expiring_soon(
    end: datetime | None, days_left: int | None, soon: bool
) -> None:
    view = box_view(Row(certificate_end_date=end), NOW)
    assert (view.days_left, view.expiring_soon) == (days_left, soon)
    assert view.attention == soon


@pytest.mark.parametrize(
    ("last_seen", "added_at", "silent"),
    [
        (NOW - timedelta(hours=47, minutes=59), NOW - timedelta(days=9), False),
        (NOW - timedelta(days=2), NOW - timedelta(days=9), True),
        (None, NOW - timedelta(days=1), False),  # paired yesterday, no report yet
        (None, NOW - timedelta(days=3), True),
    ],
)
def test_a_box_silent_for_two_days_is_marked(
    last_seen: datetime | None, added_at: datetime, silent: bool
) -> None:
    view = box_view(Row(last_seen=last_seen, added_at=added_at), NOW)
    assert view.silent is silent and view.attention is silent


@pytest.mark.parametrize(
    ("state", "kind", "end_days", "label", "tone"),
    [
        ("ok", "paired", 60, "OK", "ok"),
        ("need_refresh", "paired", 60, "Getting a new certificate", "warn"),
        ("error", "paired", 60, "Error", "bad"),
        ("ok", "paired", -1, "OK", "bad"),  # a certificate that has ended is bad whatever
        (None, "legacy", 60, "End date only (older box)", "none"),
        (None, "paired", 60, "Paired, no report yet", "none"),
    ],
)
def test_status_label_and_tone(
    state: str | None, kind: str, end_days: int, label: str, tone: str
) -> None:
    row = Row(state=state, kind=kind, certificate_end_date=NOW + timedelta(days=end_days))
    view = box_view(row, NOW)
    assert (view.status_label, view.tone) == (label, tone)


def test_an_error_code_brings_its_remedy_even_with_a_suffix() -> None:
    view = box_view(Row(state="error", error_code="ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404"), NOW)
    assert view.error is codes.LOAD_REQUEST_STATUS
    data = view.to_json()
    assert data["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404"
    assert data["remedy"] == codes.LOAD_REQUEST_STATUS.remedy
    unknown = box_view(Row(state="error", error_code="ERR_SOMETHING_NEW"), NOW)
    assert unknown.error is None and unknown.to_json()["remedy"] is None


def test_the_json_has_the_listed_fields() -> None:
    data = box_view(Row(), NOW).to_json()
    for key in (
        "identifier",
        "name",
        "ip",
        "url",
        "certificate_end_date",
        "days_left",
        "status",
        "error_code",
        "last_seen",
    ):
        assert key in data
    assert data["certificate_end_date"] == "2030-07-31T12:00:00+00:00"
    assert data["days_left"] == 60


@pytest.mark.parametrize(
    ("moment", "when", "ago"),
    [
        (None, "—", "never"),
        (NOW, "2030-06-01 12:00 UTC", "just now"),
        (NOW - timedelta(seconds=59), "2030-06-01 11:59 UTC", "just now"),
        (NOW - timedelta(minutes=1), "2030-06-01 11:59 UTC", "1 minute ago"),
        (NOW - timedelta(minutes=59), "2030-06-01 11:01 UTC", "59 minutes ago"),
        (NOW - timedelta(hours=5), "2030-06-01 07:00 UTC", "5 hours ago"),
        (NOW - timedelta(days=3, hours=2), "2030-05-29 10:00 UTC", "3 days ago"),
    ],
)
def test_formatting(moment: datetime | None, when: str, ago: str) -> None:
    assert format_when(moment) == when
    assert format_ago(moment, NOW) == ago


def test_the_issuers_refusal_is_read_from_the_detail() -> None:
    view = box_view(
        Row(
            state="error",
            error_code=codes.LOAD_REQUEST_NO_RESULT.code,
            detail="no_iot_box_line: the subscription has no IoT Box line",
        ),
        NOW,
    )
    assert view.refusal is not None and view.refusal.title == "No IoT Box line on the subscription"
    assert view.to_json()["refusal"] == "No IoT Box line on the subscription"
    assert box_view(Row(detail="something else: x"), NOW).refusal is None
    assert box_view(Row(detail=""), NOW).refusal is None
