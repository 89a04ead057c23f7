"""The homepage's words: a pure model (tables), and the rendered page under each error code,
the agent composing each state from its own files."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes
from boxcert.box.front.backend import FrontStatus
from boxcert.box.front.certswitch import ServedPair
from boxcert.box.front.homepage import Verdict, box_host, days_left, home_model
from boxcert.box.hublink import HubLink, LinkState
from boxcert.box.state import LastAttempt, save_last
from boxcert.box.status import BoxStatus, CertificateInfo, CertState
from boxcert.wire import RefusalCode
from tests.front_support import RunningFront, front

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CERT = CertificateInfo(
    subject_cn="abc.iot.example",
    sans=("*.abc.iot.example", "abc.iot.example"),
    issuer="Test CA",
    not_before=NOW - timedelta(days=10),
    not_after=NOW + timedelta(days=80),
    fingerprint_sha256="AA:BB",
)
RENEW = NOW + timedelta(days=50)
REAL = ServedPair(False, CERT.sans, CERT.not_before, CERT.not_after, "AA:BB", False)
PLACEHOLDER = ServedPair(True, ("localhost",), NOW, NOW + timedelta(days=365), "CC", True)
PAIRED = HubLink(LinkState.PAIRED)


def view(status: BoxStatus, *, checking: bool = False, hub: HubLink = PAIRED) -> FrontStatus:
    return FrontStatus(status, hub, checking)


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
            view(BoxStatus(CertState.OK, None, "fine", CERT, "https://x", renew_at=RENEW)),
            REAL,
            "https",
            Verdict.OK,
            "OK",
            set(),
        ),
        (
            view(BoxStatus(CertState.NEED_REFRESH, None, "none yet")),
            PLACEHOLDER,
            "https",
            Verdict.PENDING,
            "Not ready yet",
            {"placeholder"},
        ),
        (
            view(BoxStatus(CertState.NEED_REFRESH, None, "none yet"), checking=True),
            PLACEHOLDER,
            "http",
            Verdict.PENDING,
            "Not ready yet",
            {"placeholder", "plain", "checking"},
        ),
        (
            view(BoxStatus(CertState.ERROR, codes.LOAD_NO_CREDENTIAL, "d")),
            PLACEHOLDER,
            "https",
            Verdict.ERROR,
            codes.LOAD_NO_CREDENTIAL.title,
            {"placeholder", "credentials"},
        ),
        (
            view(
                BoxStatus(CertState.ERROR, codes.LOAD_REQUEST_STATUS, "d", CERT, error_suffix="503")
            ),
            REAL,
            "https",
            Verdict.ERROR,
            codes.LOAD_REQUEST_STATUS.title,
            set(),
        ),
        (
            view(BoxStatus(CertState.OK, None, "fine", CERT)),
            REAL,
            "http",
            Verdict.OK,
            "OK",
            {"plain"},
        ),
    ],
)
def test_home_model(
    status: FrontStatus,
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
    assert bool(model.certificate_rows) is (status.box.certificate is not None)
    assert bool(model.still_serving) is (verdict is Verdict.ERROR and served is REAL)


def test_still_serving_text() -> None:
    failed = view(BoxStatus(CertState.ERROR, codes.LOAD_REQUEST_EXCEPTION, ""))
    model = home_model(failed, REAL, scheme="https", now=NOW)
    assert model.still_serving == (
        "The certificate in use stays valid until 2026-07-20 (80 days); the box keeps trying "
        "to renew it."
    )


def test_certificate_rows() -> None:
    ok = view(BoxStatus(CertState.OK, None, "", CERT, renew_at=RENEW))
    rows = {
        r.label: r.value for r in home_model(ok, REAL, scheme="https", now=NOW).certificate_rows
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
        assert f'<a href="{f.box_url}" id="box-url">' in page
        assert "<details" in page and "SHA-256 fingerprint" in page and "Renewal from" in page
        assert 'id="hub-state">Not paired<' in page and 'id="pair-login"' in page
        assert 'action="/box/pair"' not in page  # the pairing form is behind the login


def failed_attempt(f: RunningFront, attempt: LastAttempt) -> None:
    """The agent's own files after a failed load with no certificate left: its status()."""
    f.paths.cert.unlink()
    save_last(f.paths, attempt)
    f.agent.status()


@pytest.mark.parametrize("code", codes.ALL_CODES, ids=lambda c: c.code)
def test_each_error_code_shows_its_code_cause_remedy_and_link(
    tmp_path: Path, code: codes.ErrorCode
) -> None:
    suffix = "404" if code is codes.LOAD_REQUEST_STATUS else ""
    with front(tmp_path) as f, f.client() as client:
        failed_attempt(
            f, LastAttempt(NOW, False, code, suffix, "the detail <b>line</b>", failures=1)
        )
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
    with front(tmp_path) as f:
        failed_attempt(
            f,
            LastAttempt(
                NOW,
                False,
                codes.LOAD_REQUEST_NO_RESULT,
                "",
                "refused",
                failures=1,
                refusal=RefusalCode.DATABASE_NOT_PRODUCTION,
            ),
        )
        page = f.client().get(f.url("/")).text
        assert "Not a production database." in page and "Only production databases" in page


# --- the DNS row and the browser check ------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "ip"),
    [
        ("192.168.1.5", "192.168.1.5"),
        ("192.168.1.5:8080", "192.168.1.5"),
        ("[fd00::1]:8080", "fd00::1"),
        ("[fd00::1]", "fd00::1"),
        ("127-0-0-1.abc.iot.example:80", None),
        ("", None),
    ],
)
def test_host_ip(header: str, ip: str | None) -> None:
    from boxcert.box.front.homepage import host_ip

    found = host_ip(header)
    assert (str(found) if found is not None else None) == ip


BOX_URL = "https://192-168-1-5.abcdefghijklmnop.iot.example:8443"


@pytest.mark.parametrize(
    ("header", "scheme", "name"),
    [
        # by IP over plain HTTP: the name of the address the visitor used
        ("192.168.1.5", "http", "192-168-1-5.abcdefghijklmnop.iot.example"),
        ("10.0.0.7:8080", "http", "10-0-0-7.abcdefghijklmnop.iot.example"),
        # a public address has no name in the zone: the box's own
        ("203.0.113.9", "http", "192-168-1-5.abcdefghijklmnop.iot.example"),
        # by name, or over HTTPS: no check
        ("192-168-1-5.abcdefghijklmnop.iot.example", "http", None),
        ("192.168.1.5", "https", None),
    ],
)
def test_browser_check(header: str, scheme: str, name: str | None) -> None:
    from boxcert.box.front.homepage import browser_check

    check = browser_check(BOX_URL, header, scheme=scheme, http_port=8080, https_port=8443,
                          trusted=True, zone="iot.example")  # fmt: skip
    if name is None:
        assert check is None
        return
    assert check is not None and check.name == name
    assert check.https_probe == f"https://{name}:8443/box/ping"
    assert check.http_probe == f"http://{name}:8080/box/ping"
    assert check.connect_sources == (f"https://{name}:8443", f"http://{name}:8080")
    assert "rebind-domain-ok=/iot.example/" in check.remedy


def test_browser_check_default_ports_and_no_url() -> None:
    from boxcert.box.front.homepage import browser_check

    check = browser_check("https://192-168-1-5.abc.z", "192.168.1.5", scheme="http",
                          http_port=80, https_port=443, trusted=False, zone="z")  # fmt: skip
    assert check is not None and check.target == "https://192-168-1-5.abc.z/"
    assert check.http_probe == "http://192-168-1-5.abc.z/box/ping"
    assert browser_check("", "192.168.1.5", scheme="http", http_port=80, https_port=443,
                         trusted=True, zone="z") is None  # fmt: skip


def test_dns_row() -> None:
    import ipaddress

    from boxcert.box.diagnosis.dns_verdict import Lookup, Outcome, classify
    from boxcert.box.dnscheck import DnsView
    from boxcert.box.front.homepage import DnsState, dns_row

    ip = ipaddress.ip_address("192.168.1.5")
    zone = Lookup("ns:53", Outcome.ADDRESSES, ("192.168.1.5",))
    filtered = classify("n.z", ip, Lookup("lan:53", Outcome.NO_ADDRESS), zone)
    row = dns_row(DnsView(filtered, "iot.example", False, True))
    assert row.state is DnsState.PROBLEM and row.help_url == "/box/diagnosis/rebinding_suspected"
    assert "iot.example" in row.remedy and row.detail[0].isupper()
    fine = classify("n.z", ip, Lookup("lan:53", Outcome.ADDRESSES, ("192.168.1.5",)), zone)
    assert dns_row(DnsView(fine, "z", True, True)).state is DnsState.OK
    assert dns_row(DnsView(None, "z", True, True)).state is DnsState.PENDING
    assert dns_row(DnsView(None, "z", False, False)).state is DnsState.NO_NAME
