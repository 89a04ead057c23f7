"""Advice that fits the cause: pure classifiers against tables, then the real cases — an
untrusted local root, an issuer URL with the exchange path, an issuer certificate the box
cannot verify, a refusal caused by the vendor's CA — through the real agent and CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes, pki
from boxcert.box import advice
from boxcert.box.advice import ADVICE, VENDOR_SIDE_CAUSE, Advice, explain
from boxcert.box.agent import BoxAgent
from boxcert.box.config import load_config, save_config
from boxcert.box.errors import FailureKind
from boxcert.box.files import BoxPaths
from boxcert.box.status import BoxStatus, CertState
from boxcert.wire import RefusalCode
from boxcert.wire.refusals import REFUSALS
from tests.box_support import http_answer, raw_issuer
from tests.helpers import BoxHome, IssuerProcess, LocalTestCA, configured_box
from tests.test_box_clock import tls_issuer


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FailureKind.TLS_UNTRUSTED, Advice.ISSUER_CA),
        (FailureKind.TLS_NAME, Advice.ISSUER_TLS_NAME),
        (FailureKind.TLS_DATES, None),  # the clock check says what to do
        (FailureKind.NETWORK, None),
        (FailureKind.TIMEOUT, None),
    ],
)
def test_for_exchange(kind: FailureKind, expected: Advice | None) -> None:
    assert advice.for_exchange(kind) is expected


@pytest.mark.parametrize(
    ("url", "status", "expected"),
    [
        ("https://certs.example.net/iot/x509", 404, Advice.ISSUER_URL_PATH),
        ("https://certs.example.net/odoo-enterprise/iot/x509/", 404, Advice.ISSUER_URL_PATH),
        ("https://certs.example.net/iot/x509", 503, None),
        ("https://certs.example.net", 404, None),
        ("https://certs.example.net/prefix", 404, None),
    ],
)
def test_for_status(url: str, status: int, expected: Advice | None) -> None:
    assert advice.for_status(url, status) is expected


def test_for_untrusted_chain() -> None:
    ours, other = LocalTestCA.create("ours"), LocalTestCA.create("other")
    leaf = other.leaf(pki.make_ec_key().public_key(), ["a.example"])
    assert advice.for_untrusted_chain([leaf], [ours.cert]) is Advice.TRUST_LOCAL_ROOT
    # issued under a root the box has (it failed for another reason): no such advice
    assert advice.for_untrusted_chain([leaf], [other.cert]) is None


def test_explain_precedence() -> None:
    base = BoxStatus(CertState.ERROR, codes.LOAD_REQUEST_NO_RESULT, "d")
    plain = explain(base)
    assert plain is not None and plain.remedy == codes.LOAD_REQUEST_NO_RESULT.remedy
    refused = explain(replace(base, refusal=RefusalCode.NO_IOT_BOX_LINE))
    assert refused is not None and refused.remedy == REFUSALS[RefusalCode.NO_IOT_BOX_LINE].remedy
    assert refused.cause == codes.LOAD_REQUEST_NO_RESULT.cause
    vendor = explain(replace(base, refusal=RefusalCode.CA_FAILED))
    assert vendor is not None and vendor.cause == VENDOR_SIDE_CAUSE
    assert "eligib" not in vendor.remedy.lower()
    fitted = explain(replace(base, advice=Advice.ISSUER_CA))
    assert fitted is not None and fitted.remedy == ADVICE[Advice.ISSUER_CA]
    assert explain(BoxStatus(CertState.OK, None, "")) is None


def test_an_untrusted_local_root_names_trust_ca(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = BoxHome(tmp_path / "box")
    box.configure("--server", "http://127.0.0.1:8069", "--db-uuid", eligible[0],
                  "--enterprise-code", eligible[1], "--issuer", issuer.url)  # fmt: skip
    code, report = box.ensure()
    assert code == 1 and report["error_code"] == codes.LOAD_INVALID_CERT.code
    assert report["advice"] == "trust_local_root"
    assert "--trust-ca" in report["remedy"] and "boxcert issuer ca-bundle" in report["remedy"]
    assert "Report the detail to support" not in report["remedy"]
    assert box.status()[1]["remedy"] == report["remedy"]  # kept in state.json, as data
    _code, text = box.run("status")
    assert "do:      The certificate service signs with a certificate authority" in text
    # The fix works as said.
    box.configure("--trust-ca", str(issuer.root_pem))
    assert box.ensure()[0] == 0


def test_an_issuer_url_with_the_exchange_path(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    paths = BoxPaths(box.home)  # as a hub or a hand-edited file could have set it
    save_config(paths, replace(load_config(paths), issuer=issuer.url + "/iot/x509"))
    code, report = box.ensure()
    assert code == 1 and report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404"
    assert "remove `/iot/x509`" in report["remedy"] and "contact support" not in report["remedy"]


def test_an_issuer_certificate_the_box_cannot_verify(tmp_path: Path) -> None:
    issuer, _root = tls_issuer(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    try:
        box = BoxHome(tmp_path / "box")
        box.configure("--server", "http://127.0.0.1:8069", "--db-uuid", "u",
                      "--enterprise-code", "c", "--issuer", issuer.url)  # fmt: skip
        code, report = box.ensure()
    finally:
        issuer.stop()
    assert code == 1 and report["error_code"] == codes.LOAD_REQUEST_EXCEPTION.code
    assert "TLS verification failed" in report["detail"]
    assert "--issuer-ca" in report["remedy"]


def test_a_refusal_caused_by_the_vendors_ca(tmp_path: Path) -> None:
    body = b'{"result": {"error": {"code": "ca_failed", "message": "reference 7f3a"}}}'
    with raw_issuer() as peer:
        peer.info = http_answer(b"{}", "404 Not Found")
        peer.script = lambda conn, request: conn.sendall(http_answer(body))
        paths = BoxPaths(tmp_path / "box")
        box = BoxHome(paths.home)
        box.configure("--server", "http://127.0.0.1:8069", "--db-uuid", "u",
                      "--enterprise-code", "c", "--issuer", peer.url)  # fmt: skip
        status = BoxAgent(paths).ensure()
        _code, text = box.run("status")
    assert status.refusal is RefusalCode.CA_FAILED and "reference 7f3a" in status.detail
    words = explain(status)
    assert words is not None and words.cause == VENDOR_SIDE_CAUSE
    assert "meaning: Certificate authority unavailable" in text
    assert "Check eligibility" not in text
