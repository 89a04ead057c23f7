"""The clock check: a table for the judgement, real chrony and a real HTTP server as sources."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from boxcert.box.diagnosis.clock import ClockVerdict, Reading, Source, judge
from boxcert.box.diagnosis.clock_probe import TimeSourceError, issuer_date, sntp
from tests.ntp import chrony_server, needs_chrony

T = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def reading(source: Source, offset: timedelta) -> Reading:
    return Reading(source, T + offset, T, "x")


@pytest.mark.parametrize(
    ("readings", "verdict"),
    [
        ([], ClockVerdict.UNKNOWN),
        ([reading(Source.ISSUER, timedelta(minutes=4))], ClockVerdict.OK),
        ([reading(Source.ISSUER, timedelta(minutes=6))], ClockVerdict.BEHIND),
        ([reading(Source.ISSUER, -timedelta(minutes=10))], ClockVerdict.AHEAD),
        ([reading(Source.ISSUER_HINT, timedelta(days=2))], ClockVerdict.BEHIND),
        # the most trusted source decides
        (
            [reading(Source.ISSUER, timedelta(days=2)), reading(Source.NTP, timedelta(0))],
            ClockVerdict.OK,
        ),
        (
            [reading(Source.ISSUER_HINT, timedelta(0)), reading(Source.ISSUER, timedelta(hours=3))],
            ClockVerdict.BEHIND,
        ),
    ],
)
def test_judgement(readings: list[Reading], verdict: ClockVerdict) -> None:
    check = judge(readings)
    assert check.verdict is verdict
    assert check.wrong == (verdict in (ClockVerdict.BEHIND, ClockVerdict.AHEAD))


def test_detail_says_how_far_and_which_way() -> None:
    check = judge([reading(Source.NTP, timedelta(days=2))])
    assert "2 days behind" in check.detail and "the NTP server" in check.detail
    assert "10 minutes ahead" in judge([reading(Source.ISSUER, -timedelta(minutes=10))]).detail


@needs_chrony
@pytest.mark.parametrize(
    ("skew", "verdict"),
    [
        (timedelta(0), ClockVerdict.OK),
        (-timedelta(days=2), ClockVerdict.BEHIND),
        (timedelta(minutes=10), ClockVerdict.AHEAD),
    ],
)
def test_sntp_against_chrony(skew: timedelta, verdict: ClockVerdict) -> None:
    with chrony_server() as server:
        got = sntp(server, clock=lambda: datetime.now(UTC) + skew)
    assert got.source is Source.NTP
    assert judge([got]).verdict is verdict
    assert abs(got.offset + skew) < timedelta(seconds=2)


def test_sntp_unreachable_is_an_error() -> None:
    from boxcert.devstack import free_port

    with pytest.raises(TimeSourceError):
        sntp(("127.0.0.1", free_port()), timeout=0.3)


class _Info(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server sends a Date header of its own
        body = b'{"zone": "iot.boxcert.test", "api_version": 1}'
        self.send_response(200 if self.path == "/iot/info" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_issuer() -> Iterator[tuple[str, trustme.CA]]:
    ca = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Info)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", ca
    server.shutdown()
    server.server_close()


def test_issuer_date_verified(https_issuer: tuple[str, trustme.CA]) -> None:
    url, ca = https_issuer
    context = ssl.create_default_context()
    ca.configure_trust(context)
    got = issuer_date(url, context, clock=lambda: datetime.now(UTC) - timedelta(days=2))
    assert got.source is Source.ISSUER
    assert judge([got]).verdict is ClockVerdict.BEHIND


def test_unverified_date_is_only_a_hint(https_issuer: tuple[str, trustme.CA]) -> None:
    url, _ca = https_issuer
    with pytest.raises(TimeSourceError):  # verification stays on: an unknown CA fails
        issuer_date(url, ssl.create_default_context())
    hint = issuer_date(url, False, clock=lambda: datetime.now(UTC) + timedelta(hours=3))
    assert hint.source is Source.ISSUER_HINT
    check = judge([hint])
    assert check.verdict is ClockVerdict.AHEAD and "(unverified)" in check.detail


@pytest.mark.parametrize(
    ("offset", "span"),
    [
        (timedelta(0), "0 seconds"),
        (timedelta(seconds=1), "1 second"),
        (-timedelta(seconds=1), "1 second"),
        (timedelta(seconds=80), "80 seconds"),
        (timedelta(minutes=4), "4 minutes"),
    ],
)
def test_a_right_clock_reads_the_same_from_one_check_to_the_next(
    offset: timedelta, span: str
) -> None:
    """The issuer's Date has whole seconds: a right clock reads 0 s off one time and 1 s the
    next, and that must not be a new status (nor announce one to the hub)."""
    check = judge([reading(Source.ISSUER, offset)])
    assert check.verdict is ClockVerdict.OK
    assert (
        check.detail
        == f"The box's clock agrees with the certificate service (x): the two differ by {span}."
    )
    assert check.summary == "The box's clock agrees with the certificate service (x)."
    assert judge([reading(Source.ISSUER, timedelta(0))]).summary == check.summary
