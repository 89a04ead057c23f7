"""box/reporter: what a report says (tables), and reports to a real hub (in-process over a real
socket, so its service can be asked directly) on a fake time: at once after a change, again
only when due, back-off when the hub cannot be reached, a 401 that stops the reports until the
box is paired again, and a hub that never answers not holding up the agent's events."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes
from boxcert.box.config import BoxConfig, load_config, update_config
from boxcert.box.files import BoxPaths
from boxcert.box.hubclient import ReportOutcome
from boxcert.box.hublink import LinkState, link_of, load_log, pair_with_hub
from boxcert.box.reporter import REPORT_EVERY, Reporter, report_due, report_of, retry_delay
from boxcert.box.status import BoxStatus, CertificateInfo, CertState, StatusHolder
from boxcert.devstack import free_port
from boxcert.httpserver import running
from boxcert.hub.app import create_app
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig, HubService
from boxcert.wire.hub import BoxState
from tests.box_support import FakeTime, raw_issuer
from tests.front_support import box_home

BIG = 1e9  # a poll slice longer than any wait: one fake wait per sleep
T0 = datetime(2026, 5, 1, tzinfo=UTC)
CERT = CertificateInfo("x", ("*.l.z", "l.z"), "CA", T0, T0 + timedelta(days=90), "AA")
OK = BoxStatus(CertState.OK, None, "Valid.", CERT, "https://127-0-0-1.l.z:8443")
FAILED = BoxStatus(
    CertState.ERROR, codes.LOAD_REQUEST_STATUS, "HTTP 503", CERT, OK.url, error_suffix="503"
)


def test_report_of() -> None:
    config = BoxConfig(identifier="till-1", name="Till 1")
    report = report_of(FAILED, config, "192.168.1.5")
    assert (report.identifier, report.name, report.ip) == ("till-1", "Till 1", "192.168.1.5")
    assert report.state is BoxState.ERROR
    assert report.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503"
    assert report.url == OK.url and report.certificate_end_date == CERT.not_after
    bare = report_of(BoxStatus(CertState.NEED_REFRESH, None, "x\ny" * 400), config, "10.0.0.1")
    assert bare.url == "" and bare.certificate_end_date is None and bare.error_code is None
    assert len(bare.detail) <= 500 and "\n" not in bare.detail


@pytest.mark.parametrize(
    ("same", "accepted_ago", "due"),
    [
        (False, timedelta(minutes=1), True),  # a change: at once
        (True, None, True),  # never accepted
        (True, timedelta(hours=1), False),
        (True, REPORT_EVERY, True),  # at least daily
    ],
)
def test_report_due(same: bool, accepted_ago: timedelta | None, due: bool) -> None:
    config = BoxConfig(identifier="b")
    report = report_of(OK, config, "10.0.0.1")
    accepted = report if same else report_of(FAILED, config, "10.0.0.1")
    at = None if accepted_ago is None else T0 - accepted_ago
    assert report_due(report, accepted, at, T0) is due


@pytest.mark.parametrize(
    ("failures", "jitter", "seconds"),
    [(1, 0.0, 60), (2, 0.0, 120), (3, 0.5, 330), (8, 0.0, 6 * 3600), (50, 0.99, 6 * 3600 * 1.198)],
)
def test_retry_delay(failures: int, jitter: float, seconds: float) -> None:
    assert retry_delay(failures, jitter) == pytest.approx(seconds)


@dataclass
class Hub:
    service: HubService
    url: str

    def token(self) -> str:
        return self.service.new_token().encode()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    service = open_service(tmp_path / "hub", None)
    service.configure(HubConfig("uuid-1", "C-reporter-test", "https://issuer.example", "z"))
    with running(create_app(service)) as url:
        service.set_public_url(url)
        yield Hub(service, url)


def paired_box(home: Path, hub: Hub, identifier: str = "till-1") -> BoxPaths:
    paths = box_home(home, identifier=identifier, name="Till 1")
    update_config(paths, **pair_with_hub(load_config(paths), hub.token()).changes)
    return paths


def reporter_on(paths: BoxPaths, holder: StatusHolder, time: FakeTime) -> Reporter:
    return Reporter(paths, holder, clock=time.clock, wait=time.wait, poll=BIG, jitter=lambda: 0.0)


def run_until(reporter: Reporter, time: FakeTime, waits: int) -> None:
    """Run the reporter's loop in this thread until it has waited ``waits`` times."""
    stop = threading.Event()
    earlier = time.on_wait

    def on_wait(seconds: float) -> None:
        if earlier is not None:
            earlier(seconds)
        if len(time.waits) >= waits:
            stop.set()

    time.on_wait = on_wait
    reporter.run(stop)


def test_reports_at_once_after_a_change_then_only_when_due(tmp_path: Path, hub: Hub) -> None:
    paths = paired_box(tmp_path / "box", hub)
    holder, time = StatusHolder(), FakeTime(now=T0)
    holder.set(OK)
    reporter = reporter_on(paths, holder, time)

    def on_wait(seconds: float) -> None:
        if len(time.waits) == 2:
            holder.set(FAILED)  # a change while it waits: reported at once

    time.on_wait = on_wait
    run_until(reporter, time, waits=4)
    # OK; a wait of REPORT_EVERY, then OK again (due); FAILED at once on the change (the
    # second wait was cut short); FAILED again once due
    assert reporter.attempts == 4
    assert time.waits == [REPORT_EVERY.total_seconds()] * 4
    assert time.now == T0 + 3 * REPORT_EVERY  # the cut-short wait took no time
    shown = hub.service.box("till-1")
    assert shown.status == "error" and shown.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503"
    assert shown.url == OK.url and shown.certificate_end_date == CERT.not_after
    assert load_log(paths).last_report_at is not None


def test_an_unreachable_hub_is_retried_with_back_off(tmp_path: Path, hub: Hub) -> None:
    paths = paired_box(tmp_path / "box", hub)
    update_config(paths, server=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    holder, time = StatusHolder(), FakeTime(now=T0)
    holder.set(OK)
    reporter = reporter_on(paths, holder, time)
    problems: list[str] = []

    def on_wait(seconds: float) -> None:
        if len(time.waits) == 3:  # the hub is back
            problems.append(load_log(paths).last_error)
            update_config(paths, server=hub.url)

    time.on_wait = on_wait
    run_until(reporter, time, waits=4)
    assert time.waits == [60.0, 120.0, 300.0, REPORT_EVERY.total_seconds()]
    assert reporter.attempts == 4
    assert hub.service.box("till-1").status == "ok"
    assert "ConnectError" in problems[0]  # shown on `box status` while it lasts
    assert load_log(paths).last_error == ""


def test_a_forgotten_box_is_unpaired_and_stops_reporting_until_paired_again(
    tmp_path: Path, hub: Hub
) -> None:
    paths = paired_box(tmp_path / "box", hub)
    holder, time = StatusHolder(), FakeTime(now=T0)
    reporter = reporter_on(paths, holder, time)
    config = load_config(paths)
    first = reporter.attempt(config, OK)
    assert first is not None and first.outcome is ReportOutcome.ACCEPTED
    hub.service.forget("till-1")
    forgotten = reporter.attempt(config, FAILED)
    assert forgotten is not None and forgotten.outcome is ReportOutcome.FORGOTTEN
    assert link_of(config, load_log(paths)).state is LinkState.UNPAIRED
    holder.set(FAILED)
    run_until(reporter, time, waits=3)  # changes, a day: nothing is sent
    assert reporter.attempts == 2
    update_config(paths, **pair_with_hub(load_config(paths), hub.token()).changes)
    config = load_config(paths)
    assert link_of(config, load_log(paths)).state is LinkState.PAIRED
    again = reporter.attempt(config, OK)
    assert again is not None and again.outcome is ReportOutcome.ACCEPTED


def test_a_hub_that_never_answers_does_not_hold_up_the_agents_events(tmp_path: Path) -> None:
    answered = threading.Event()

    def stall(conn: socket.socket, _: bytes) -> None:
        answered.wait(30)

    with raw_issuer() as silent:
        silent.script = stall
        paths = box_home(tmp_path / "box", identifier="till-1")
        secret = "bxs1.abcdefgh.0123456789abcdefghijABCDEFGHIJ_-0123456789abcde"
        update_config(paths, server=silent.url, hub_secret=secret)
        holder = StatusHolder()
        reporter = Reporter(paths, holder)
        stop = threading.Event()
        thread = threading.Thread(target=reporter.run, args=(stop,))
        thread.start()
        try:
            holder.set(OK)
            for _ in range(3000):
                if silent.requests:
                    break
                threading.Event().wait(0.01)
            assert silent.requests  # the report is on its way and the hub sits on it
            assert holder.set(FAILED) is True  # the agent's next event goes through
            assert not answered.is_set()
        finally:
            answered.set()
            stop.set()
            reporter.wake()
            thread.join(60)
    assert not thread.is_alive()
