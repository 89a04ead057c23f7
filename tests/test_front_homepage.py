"""The homepage's words: a pure model (tables), and the rendered page under each error code."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes
from boxcert.box.front.backend import CertificateView, CertState, StatusView
from boxcert.box.front.certswitch import ServedPair
from boxcert.box.front.homepage import Verdict, box_host, days_left, home_model
from boxcert.box.front.localbackend import LocalBackend
from tests.front_support import front

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CERT = CertificateView(
    subject="abc.iot.example",
    names=("*.abc.iot.example", "abc.iot.example"),
    issuer="Test CA",
    valid_from=NOW - timedelta(days=10),
    valid_until=NOW + timedelta(days=80),
    fingerprint_sha256="AA:BB",
    renew_at=NOW + timedelta(days=50),
)
REAL = ServedPair(False, CERT.names, CERT.valid_from, CERT.valid_until, "AA:BB", False)
PLACEHOLDER = ServedPair(True, ("localhost",), NOW, NOW + timedelta(days=365), "CC", True)


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (NOW + timedelta(days=80), 80),
        (NOW + timedelta(hours=23), 0),
        (NOW - timedelta(hours=1), -1),
        (NOW + timedelta(days=1, seconds=1), 1),
    ],
)
def test_days_left(until: datetime, expected: int) -> None:
    assert days_left(until, NOW) == expected


@pytest.mark.parametrize(
    ("url", "host"),
    [("https://1-2-3-4.abc.zone", "1-2-3-4.abc.zone"), ("https://a.b:8443", "a.b"), ("", "")],
)
def test_box_host(url: str, host: str) -> None:
    assert box_host(url) == host


@pytest.mark.parametrize(
    ("status", "served", "scheme", "verdict", "headline", "flags"),
    [
        (
            StatusView(CertState.OK, "fine", certificate=CERT, url="https://x"),
            REAL,
            "https",
            Verdict.OK,
            "OK",
            set(),
        ),
        (
            StatusView(CertState.NEED_REFRESH, "none yet"),
            PLACEHOLDER,
            "https",
            Verdict.PENDING,
            "Not ready yet",
            {"placeholder"},
        ),
        (
            StatusView(CertState.NEED_REFRESH, "none yet", checking=True),
            PLACEHOLDER,
            "http",
            Verdict.PENDING,
            "Not ready yet",
            {"placeholder", "plain", "checking"},
        ),
        (
            StatusView(CertState.ERROR, "d", error=codes.LOAD_NO_CREDENTIAL),
            PLACEHOLDER,
            "https",
            Verdict.ERROR,
            codes.LOAD_NO_CREDENTIAL.title,
            {"placeholder", "credentials"},
        ),
        (
            StatusView(
                CertState.ERROR,
                "d",
                error=codes.LOAD_REQUEST_STATUS,
                error_suffix="503",
                certificate=CERT,
            ),
            REAL,
            "https",
            Verdict.ERROR,
            codes.LOAD_REQUEST_STATUS.title,
            set(),
        ),
        (
            StatusView(CertState.OK, "fine", certificate=CERT),
            REAL,
            "http",
            Verdict.OK,
            "OK",
            {"plain"},
        ),
    ],
)
def test_home_model(
    status: StatusView,
    served: ServedPair,
    scheme: str,
    verdict: Verdict,
    headline: str,
    flags: set[str],
) -> None:
    model = home_model(status, served, scheme=scheme, now=NOW)
    assert (model.verdict, model.headline) == (verdict, headline)
    found = {
        name
        for name, on in [
            ("placeholder", model.placeholder_served),
            ("plain", model.plain_http),
            ("checking", model.checking),
            ("credentials", model.credentials_hint),
        ]
        if on
    }
    assert found == flags
    assert bool(model.certificate_rows) is (status.certificate is not None)
    assert bool(model.still_serving) is (verdict is Verdict.ERROR and served is REAL)


def test_still_serving_text() -> None:
    failed = StatusView(CertState.ERROR, "", error=codes.LOAD_REQUEST_EXCEPTION)
    model = home_model(failed, REAL, scheme="https", now=NOW)
    assert model.still_serving == (
        "The certificate in use stays valid until 2026-07-20 (80 days); the box keeps trying "
        "to renew it."
    )


def test_certificate_rows() -> None:
    rows = {
        r.label: r.value
        for r in home_model(
            StatusView(CertState.OK, "", certificate=CERT), REAL, scheme="https", now=NOW
        ).certificate_rows
    }
    assert rows == {
        "Subject": "abc.iot.example",
        "Names": "*.abc.iot.example, abc.iot.example",
        "Issuer": "Test CA",
        "Valid from": "2026-04-21 12:00 UTC",
        "Valid until": "2026-07-20 12:00 UTC",
        "Days left": "80",
        "Renewal from": "2026-06-20 12:00 UTC",
        "SHA-256 fingerprint": "AA:BB",
    }


def test_ok_page_shows_the_url_and_the_details(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        page = f.client().get(f.url("/")).text
        assert 'id="verdict">OK<' in page
        assert f'<a href="{f.backend.url}" id="box-url">' in page
        assert "<details" in page and "SHA-256 fingerprint" in page and "Renewal from" in page


@pytest.mark.parametrize("code", codes.ALL_CODES, ids=lambda c: c.code)
def test_each_error_code_shows_its_code_cause_remedy_and_link(
    tmp_path: Path, code: codes.ErrorCode
) -> None:
    suffix = "404" if code is codes.LOAD_REQUEST_STATUS else ""
    failed = StatusView(CertState.ERROR, "the detail <b>line</b>", error=code, error_suffix=suffix)
    # Every check the page asks for fails the same way.
    backend = LocalBackend(tmp_path / "box", check=lambda _: failed)
    backend.set_status(failed)
    with front(tmp_path, backend=backend) as f, f.client() as client:
        page = client.get(f.url("/")).text
        shown = f"{code.code} {suffix}".strip()
        assert f"<code>{shown}</code>" in page
        assert code.title in html.unescape(page)
        first_words = code.remedy.split("`", 1)[0].strip()[:40]
        assert first_words and first_words in html.unescape(page)
        assert "the detail &lt;b&gt;line&lt;/b&gt;" in page  # escaped, never markup
        assert f'href="/box/errors/{code.code}"' in page
        linked = client.get(f.url(f"/box/errors/{code.code}"))
        assert linked.status_code == 200 and f"<h1>{code.code}</h1>" in linked.text
        assert client.get(f.url("/status.json")).json()["error_code"] == shown


def test_a_refusal_shows_its_reason(tmp_path: Path) -> None:
    refused = StatusView(
        CertState.ERROR,
        "refused",
        error=codes.LOAD_REQUEST_NO_RESULT,
        refusal="database_not_production",
    )
    backend = LocalBackend(tmp_path / "box", check=lambda _: refused)
    backend.set_status(refused)
    with front(tmp_path, backend=backend) as f:
        page = f.client().get(f.url("/")).text
        assert "Not a production database." in page and "Only production databases" in page
