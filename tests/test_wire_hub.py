"""The box⇄hub messages: tokens and secrets, connect, reports, the legacy report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from boxcert.wire.hub import (
    BoxReport,
    BoxSecret,
    BoxState,
    ConnectAnswer,
    ConnectRequest,
    LegacyReport,
    MalformedToken,
    PairingRefusal,
    PairingToken,
    check_transport,
    legacy_answer,
)
from boxcert.wire.x509 import WireError

TOKEN = PairingToken("https://hub.example:8443", "AbCdEfGhIjKlMnOp", "s" * 43)
SECRET = BoxSecret("IdIdIdIdIdIdIdId", "t" * 43)


def test_a_token_round_trips_and_hides_its_secret() -> None:
    text = TOKEN.encode()
    assert text.startswith("bxp1.") and " " not in text and "hub.example" not in text
    assert PairingToken.parse(text) == TOKEN
    assert PairingToken.parse(f"  {text}\n") == TOKEN  # pasted with blanks around
    assert "s" * 43 not in repr(TOKEN)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "bxp2.aHR0cHM6Ly9o.id.secret",
        "bxp1.aHR0cHM6Ly9odWI.id",  # a part missing
        "bxp1.aHR0cHM6Ly9odWI.id.sec.ret",
        "bxp1.aHR0cHM6Ly9odWI.i d.secret",
        "bxp1.%%%%.id.secret",
        "bxp1.Zm9vYmFy.id.secret",  # "foobar" is not a URL
        "bxp1.ZnRwOi8vaHVi.id.secret",  # ftp://hub
        "bxp1.aHR0cHM6Ly91c2VyOnB3QGh1Yg.id.secret",  # https://user:pw@hub
        "bxp1.__8.id.secret",  # not UTF-8
        "bxp1." + "A" * 2000 + ".id.secret",
    ],
)
def test_malformed_tokens_say_so(text: str) -> None:
    with pytest.raises(MalformedToken):
        PairingToken.parse(text)


def test_box_secret_round_trips_through_the_header() -> None:
    header = SECRET.authorization()
    assert BoxSecret.from_authorization(header["Authorization"]) == SECRET
    assert "t" * 43 not in repr(SECRET)
    for bad in (None, "", "Basic abc", "Bearer", "Bearer bxp1.a.b.c", "Bearer bxs1.a"):
        with pytest.raises(WireError):
            BoxSecret.from_authorization(bad)


def test_connect_request_and_answer_round_trip() -> None:
    request = ConnectRequest(TOKEN, "box-7", "Till 7")
    assert ConnectRequest.from_json(request.to_json()) == request
    answer = ConnectAnswer(
        "https://hub.example", "uuid-1", "C-SECRET", "https://issuer.example", "iot.example", SECRET
    )
    assert ConnectAnswer.from_json(answer.to_json()) == answer
    assert "C-SECRET" not in repr(answer)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"identifier": "b"}, MalformedToken),
        ({"token": 5, "identifier": "b"}, MalformedToken),
        ({"token": "nope", "identifier": "b"}, MalformedToken),
        ({"token": TOKEN.encode()}, WireError),
        ({"token": TOKEN.encode(), "identifier": "b\x00"}, WireError),
        ({"token": TOKEN.encode(), "identifier": "b" * 129}, WireError),
        ({"token": TOKEN.encode(), "identifier": "b", "name": ["x"]}, WireError),
    ],
)
def test_bad_connect_requests(params: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ConnectRequest.from_json({"params": params})


@pytest.mark.parametrize("body", [None, [], "x", {}, {"result": 1}, {"result": {"zone": "z"}}])
def test_answers_without_the_fields_are_refused(body: Any) -> None:
    with pytest.raises(WireError):
        ConnectAnswer.from_json(body)


def report(**changes: Any) -> dict[str, Any]:
    params = {
        "identifier": "box-7",
        "name": "Till 7",
        "ip": "192.168.1.5",
        "url": "https://192-168-1-5.abc.iot.example",
        "certificate_end_date": "2030-03-01T12:00:00+00:00",
        "status": "ok",
        "error_code": None,
        "detail": "",
    }
    params.update(changes)
    return {"params": params}


def test_a_report_round_trips_with_aware_dates() -> None:
    parsed = BoxReport.from_json(report())
    assert parsed.state is BoxState.OK
    assert parsed.certificate_end_date == datetime(2030, 3, 1, 12, tzinfo=UTC)
    assert BoxReport.from_json(parsed.to_json()) == parsed
    shifted = BoxReport.from_json(report(certificate_end_date="2030-03-01T14:00:00+02:00"))
    assert shifted.certificate_end_date == parsed.certificate_end_date
    assert shifted.certificate_end_date is not None
    assert shifted.certificate_end_date.utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError, match="aware"):
        BoxReport("b", BoxState.OK, certificate_end_date=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "fine"}, "must be one of: ok, need_refresh, error"),
        ({"status": None}, "must be one of"),
        ({"ip": "192.168.1.500"}, "IPv4 or IPv6"),
        ({"url": "http://192-168-1-5.abc.iot.example"}, "https://"),
        ({"url": "javascript:alert(1)"}, "https://"),
        ({"url": "https://"}, "https://"),
        ({"certificate_end_date": "2030-03-01T12:00:00"}, "UTC offset"),
        ({"certificate_end_date": "next week"}, "ISO 8601"),
        ({"certificate_end_date": 1700000000}, "ISO 8601"),
        ({"error_code": "rm -rf /"}, "ERR_"),
        ({"error_code": "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404 extra"}, "ERR_"),
        ({"identifier": ""}, "identifier"),
        ({"name": "x" * 101}, "longer than 100"),
        ({"detail": "line\nbreak"}, "control"),
    ],
)
def test_bad_reports_say_which_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(WireError, match=message):
        BoxReport.from_json(report(**changes))


def test_reports_accept_the_codes_boxes_send() -> None:
    parsed = BoxReport.from_json(
        report(status="error", error_code="ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404")
    )
    assert parsed.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404"
    empty = BoxReport.from_json(report(url="", ip="", certificate_end_date=None, status="error"))
    assert (empty.url, empty.ip, empty.certificate_end_date) == ("", "", None)
    v6 = BoxReport.from_json(report(ip="FD00::1"))
    assert v6.ip == "fd00::1"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2030-03-01 12:00:00", datetime(2030, 3, 1, 12, tzinfo=UTC)),  # str(not_valid_after)
        ("2030-03-01 12:00:00+00:00", datetime(2030, 3, 1, 12, tzinfo=UTC)),
        ("2030-03-01T13:00:00+01:00", datetime(2030, 3, 1, 12, tzinfo=UTC)),
        (None, None),
        (False, None),
    ],
)
def test_the_legacy_report_reads_what_vendor_boxes_send(
    sent: object, expected: datetime | None
) -> None:
    parsed = LegacyReport.from_json(
        {"params": {"identifier": "A1", "ssl_certificate_end_date": sent}}
    )
    assert parsed.identifier == "A1"
    assert parsed.certificate_end_date == expected
    if expected is not None:
        assert parsed.certificate_end_date is not None
        assert parsed.certificate_end_date.tzinfo is not None


def test_legacy_round_trip_and_answer() -> None:
    end = datetime(2030, 3, 1, 12, tzinfo=timezone.utc)  # noqa: UP017 - as vendor code writes it
    assert LegacyReport.from_json(LegacyReport("A1", end).to_json()) == LegacyReport("A1", end)
    with pytest.raises(WireError):
        LegacyReport.from_json({"params": {"ssl_certificate_end_date": "2030-03-01"}})
    with pytest.raises(WireError):
        LegacyReport.from_json({"params": {"identifier": "A1", "ssl_certificate_end_date": "x"}})
    assert legacy_answer({"id": 7}) == {"jsonrpc": "2.0", "id": 7, "result": True}
    assert legacy_answer({"id": {"x": 1}})["id"] is None
    assert legacy_answer([]) == {"jsonrpc": "2.0", "id": None, "result": True}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hub.example", True),
        ("http://127.0.0.1:8070", True),
        ("http://localhost:8070", True),
        ("http://[::1]:8070", True),
        ("http://192.168.1.10:8070", False),
        ("http://hub.example", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_plain_http_only_to_this_machine(url: str, allowed: bool) -> None:
    if allowed:
        check_transport(url)
    else:
        with pytest.raises(WireError):
            check_transport(url)


def test_refusals_have_a_status_and_a_message() -> None:
    assert PairingRefusal.MALFORMED.status == 400
    assert PairingRefusal.NOT_CONFIGURED.status == 503
    for refusal in (PairingRefusal.UNKNOWN, PairingRefusal.USED, PairingRefusal.EXPIRED):
        assert refusal.status == 403
        assert "make a new one" in refusal.message
