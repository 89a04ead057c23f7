"""box/status: the status shape, and the holder that changes it and tells its subscribers."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from boxcert import codes
from boxcert.box.status import (
    BoxEvent,
    BoxStatus,
    CertificateInfo,
    CertState,
    Installed,
    StatusChanged,
    StatusHolder,
)
from boxcert.wire import RefusalCode
from tests.box_support import issued_pair
from tests.helpers import LocalTestCA

AT = datetime(2026, 5, 1, tzinfo=UTC)
CA = LocalTestCA.create()
OK = BoxStatus(
    CertState.OK, None, "Valid until 2026-07-01; renewal from 2026-06-01.", checked_at=AT
)
DOWN = BoxStatus(
    CertState.ERROR, codes.LOAD_REQUEST_STATUS, "HTTP 503", error_suffix="503", checked_at=AT
)


def test_error_code_is_rendered_from_data() -> None:
    assert DOWN.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503"
    assert OK.error_code is None
    assert BoxStatus.problem("config.json: zone: …").error_code is None


def test_to_json_shape() -> None:
    pair = issued_pair(CA)
    info = CertificateInfo.of(pair.chain)
    status = BoxStatus(
        CertState.ERROR,
        codes.LOAD_REQUEST_NO_RESULT,
        "no_iot_box_line: no line",
        info,
        "https://192-168-1-5.x.iot.boxcert.test",
        refusal=RefusalCode.NO_IOT_BOX_LINE,
        checked_at=AT,
    )
    out = status.to_json()
    assert out["status"] == "error"
    assert out["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
    assert out["refusal"]["code"] == "no_iot_box_line"
    assert out["refusal"]["title"] == "No IoT Box line on the subscription"
    assert out["checked_at"] == AT.isoformat()
    assert out["url"] == out["certificate"]["url"] == status.url
    assert out["certificate"]["sans"] == list(info.sans)
    assert out["certificate"]["not_after"] == pair.leaf.not_valid_after_utc.isoformat()
    json.dumps(out)  # serializable as it is
    bare = BoxStatus(CertState.NEED_REFRESH, None, "No certificate is installed yet.").to_json()
    assert bare["certificate"] is None and bare["url"] is None and bare["refusal"] is None


def test_certificate_info_has_aware_datetimes() -> None:
    info = CertificateInfo.of(issued_pair(CA).chain)
    assert info.not_before.tzinfo is not None and info.not_after.tzinfo is not None
    assert info.issuer == "test root"


def test_set_drops_repeats_and_notifies_changes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "boxcert")
    holder = StatusHolder()
    events: list[BoxEvent] = []
    holder.subscribe(events.append)
    assert holder.set(DOWN) is True
    later = replace(DOWN, checked_at=AT + timedelta(minutes=5))
    assert holder.set(later) is False  # only the time of the check moved
    assert holder.current == later  # ...which is still kept
    assert holder.set(OK) is True
    assert events == [StatusChanged(DOWN, None), StatusChanged(OK, later)]
    assert caplog.text.count("ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503") == 1  # logged once


def test_installed_is_announced_with_the_pair() -> None:
    holder = StatusHolder()
    events: list[BoxEvent] = []
    holder.subscribe(events.append)
    pair = issued_pair(CA)
    holder.installed(pair)
    assert events == [Installed(pair)]


def test_unsubscribe_and_a_failing_listener() -> None:
    holder = StatusHolder()
    seen: list[BoxEvent] = []

    def broken(event: BoxEvent) -> None:
        raise RuntimeError("listener bug")

    holder.subscribe(broken)
    stop = holder.subscribe(seen.append)
    holder.set(OK)  # the broken listener does not keep the event from the next one
    stop()
    stop()  # twice is harmless
    holder.set(DOWN)
    assert seen == [StatusChanged(OK, None)]


def test_events_arrive_in_order_from_many_threads() -> None:
    holder = StatusHolder()
    events: list[BoxEvent] = []
    holder.subscribe(events.append)
    statuses = [BoxStatus(CertState.ERROR, None, f"problem {i}") for i in range(200)]

    def worker(part: list[BoxStatus]) -> None:
        for status in part:
            holder.set(status)

    threads = [threading.Thread(target=worker, args=(statuses[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    changes = [e for e in events if isinstance(e, StatusChanged)]
    assert len(changes) == 200
    for before, after in itertools.pairwise(changes):
        assert after.previous == before.status  # no event lost or reordered
    assert holder.current == changes[-1].status
