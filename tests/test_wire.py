"""The box⇄issuer messages, the error body, the refusal meanings and text from the network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from boxcert.wire import (
    REFUSALS,
    CertificateRequest,
    ErrorBody,
    Grant,
    HttpErrorCode,
    RefusalAnswer,
    RefusalCode,
    WireError,
    canonical_uuid,
    is_clean_text,
    meaning_of,
    parse_answer,
    parse_timestamp,
    printable,
)


def test_canonical_uuid() -> None:
    assert canonical_uuid("  0A1B-CD  ") == "0a1b-cd"
    assert canonical_uuid(canonical_uuid("X")) == canonical_uuid("X")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T12:00:00+00:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26T12:00:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),  # naive means UTC
        ("2026-11-26T13:00:00+01:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (12, None),
        ("2026-11-26T12:00:00+00:00" + "0" * 100, None),
    ],
)
def test_parse_timestamp_is_aware_or_none(value: object, expected: datetime | None) -> None:
    got = parse_timestamp(value)
    assert got == expected
    assert got is None or got.tzinfo is not None


def params(**fields: Any) -> dict[str, Any]:
    return {"params": {"db_uuid": "U-1", "enterprise_code": "C", **fields}}


def test_request_round_trip_and_canonical_uuid() -> None:
    request = CertificateRequest.from_json(params(identifier=" box-1 ", csr="-----BEGIN…\n"))
    assert request.db_uuid == "u-1" and request.identifier == "box-1"
    assert CertificateRequest.from_json(request.to_json()) == request
    assert "csr" not in CertificateRequest("u", "c").to_json()["params"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        ({"params": "x"}, '"params" object'),
        ({"params": {"enterprise_code": "c"}}, '"params.db_uuid" is missing'),
        (params(identifier=5), "must be a string"),
        (params(identifier="x" * 257), "too long"),
        (params(csr="x" * 16385), "too long"),
        (params(identifier="a\x1bb"), "control or invalid"),
        (params(identifier="a\ud800"), "control or invalid"),
        (params(csr="  "), "is empty"),
    ],
)
def test_malformed_requests_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(WireError, match=message):
        CertificateRequest.from_json(body)


def test_grant_needs_an_aware_end_date() -> None:
    with pytest.raises(ValueError, match="aware"):
        Grant("pem", "cn", "d", datetime(2026, 1, 1))
    grant = Grant("pem", "cn", "d", datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert grant.to_json()["result"]["not_after"] == "2026-01-01T00:00:00+02:00"
    assert "not_after" not in Grant("pem", "cn", "d", None).to_json()["result"]


def test_parse_answer() -> None:
    grant = parse_answer(Grant("PEM", "cn", "d", datetime(2026, 1, 1, tzinfo=UTC), "KEY").to_json())
    assert isinstance(grant, Grant) and grant.private_key_pem == "KEY"
    assert grant.not_after == datetime(2026, 1, 1, tzinfo=UTC)
    undated = parse_answer({"result": {"x509_pem": "PEM", "not_after": "soon"}})
    assert isinstance(undated, Grant) and undated.not_after is None
    refusal = parse_answer(RefusalAnswer("ca_failed", "down\x1b[2J").to_json())
    assert refusal == RefusalAnswer("ca_failed", "down?[2J")
    assert parse_answer({"result": {"error": "plain"}}) == RefusalAnswer("unknown", "plain")
    for nothing in (None, [], {}, {"result": {}}, {"result": {"x509_pem": " "}}):
        assert parse_answer(nothing) is None


def test_error_body() -> None:
    body = ErrorBody(HttpErrorCode.for_status(413), "too big").to_json()
    assert body == {"error": {"code": "too_large", "message": "too big"}}
    assert ErrorBody.parse(json.dumps(body).encode()) == ErrorBody("too_large", "too big")
    assert ErrorBody.parse(b'{"error": {"code": "x", "message": "a\\u001bb"}}') == ErrorBody(
        "x", "a?b"
    )
    assert ErrorBody.parse(b"<html>") is None and ErrorBody.parse(b"[1]") is None
    assert HttpErrorCode.for_status(418) is HttpErrorCode.HTTP_ERROR


def test_every_refusal_code_has_a_meaning() -> None:
    assert set(REFUSALS) == set(RefusalCode)
    for code in RefusalCode:
        meaning = meaning_of(code.value)
        assert meaning is not None and meaning.title and meaning.remedy
    assert meaning_of("something_new") is None
    assert REFUSALS[RefusalCode.CA_FAILED].vendor_side


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("two\nlines\t here", "two lines here"),
        ("\x1b[31mred\x1b[0m", "?[31mred?[0m"),
        ("bidi \u202eevil", "bidi ?evil"),
        ("x" * 500, "x" * 299 + "…"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_is_clean_text() -> None:
    assert is_clean_text("abc") and not is_clean_text("a\x00b")
    assert not is_clean_text("a\nb") and is_clean_text("a\r\nb", allow_newlines=True)
    assert not is_clean_text("\x85") and not is_clean_text("\ud800")
