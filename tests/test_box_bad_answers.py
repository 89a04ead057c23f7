"""Bad answers never replace a good certificate.

The issuer here is a stand-in HTTP server on loopback that replays crafted answers (our real
issuer cannot be made to misbehave on purpose); the box is the real CLI. Before each case the
box holds a valid certificate that is due for renewal, so it asks, and must keep it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from boxcert import naming, pki
from tests.helpers import BoxHome, LocalTestCA

ZONE = naming.DEFAULT_ZONE


class Replay:
    def __init__(self) -> None:
        self.status = 200
        self.content_type = "application/json"
        self.body = b"{}"
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def replay() -> Iterator[tuple[Replay, str]]:
    state = Replay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            state.requests.append(json.loads(self.rfile.read(length)))
            self.send_response(state.status)
            self.send_header("content-type", state.content_type)
            self.send_header("content-length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def due_box(tmp_path: Path, replay: tuple[Replay, str]) -> tuple[BoxHome, LocalTestCA, Any]:
    """A box with its own key and a trusted certificate in its renewal window."""
    ca = LocalTestCA.create()
    box = BoxHome(tmp_path / "box")
    box.home.mkdir()
    key = pki.make_ec_key()
    pki.atomic_write(box.key_path, pki.private_key_pem(key), 0o600)
    names = naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE)
    now = datetime.now(UTC)
    old = ca.leaf(
        key.public_key(),
        names,
        not_before=now - timedelta(days=80),
        not_after=now + timedelta(days=10),
    )
    box.cert_path.write_text(pki.chain_pem([old]))
    box.configure(
        "--server",
        "http://127.0.0.1:8069",
        "--db-uuid",
        "u",
        "--enterprise-code",
        "c",
        "--issuer",
        replay[1],
        "--trust-ca",
        str(ca.write(tmp_path / "ca.pem")),
    )
    _code, report = box.status()
    assert report["status"] == "need_refresh" and report["certificate"] is not None
    return box, ca, key


def grant(chain: list[Any]) -> bytes:
    return json.dumps(
        {
            "result": {
                "x509_pem": pki.chain_pem(chain),
                "subject_cn": "x",
                "domain": "x",
                "not_after": "2030-01-01T00:00:00+00:00",
            }
        }
    ).encode()


def _names(key: Any) -> tuple[str, str]:
    return naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE)


CASES: dict[str, tuple[str, Any]] = {
    # name: (expected code, answer builder(ca, key) -> (status, content type, body))
    "html page with 200": (
        "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION",
        lambda ca, key: (200, "text/html", b"<html><body>Please log in to the Wi-Fi</body></html>"),
    ),
    "truncated json": (
        "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION",
        lambda ca, key: (200, "application/json", b'{"result": {"x509_pem": "-----BEGIN CERT'),
    ),
    "empty result": (
        "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
        lambda ca, key: (200, "application/json", b'{"result": {}}'),
    ),
    "refusal": (
        "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
        lambda ca, key: (
            200,
            "application/json",
            b'{"result": {"error": {"code": "no_iot_box_line", "message": "no line"}}}',
        ),
    ),
    "status 503": (
        "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503",
        lambda ca, key: (503, "text/html", b"maintenance"),
    ),
    "garbage pem": (
        "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
        lambda ca, key: (
            200,
            "application/json",
            json.dumps(
                {
                    "result": {
                        "x509_pem": (
                            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                        )
                    }
                }
            ).encode(),
        ),
    ),
    "certificate for another key": (
        "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
        lambda ca, key: (
            200,
            "application/json",
            grant([ca.leaf(pki.make_ec_key().public_key(), _names(key))]),
        ),
    ),
    "expired certificate": (
        "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
        lambda ca, key: (
            200,
            "application/json",
            grant(
                [
                    ca.leaf(
                        key.public_key(),
                        _names(key),
                        not_before=datetime.now(UTC) - timedelta(days=100),
                        not_after=datetime.now(UTC) - timedelta(days=10),
                    )
                ]
            ),
        ),
    ),
    "certificate for other names": (
        "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
        lambda ca, key: (
            200,
            "application/json",
            grant([ca.leaf(key.public_key(), ["*.evil.example", "evil.example"])]),
        ),
    ),
    "untrusted root": (
        "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
        lambda ca, key: (
            200,
            "application/json",
            grant([LocalTestCA.create("rogue").leaf(key.public_key(), _names(key))]),
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_answer_keeps_previous_pair(
    case: str, replay: tuple[Replay, str], due_box: tuple[BoxHome, LocalTestCA, Any]
) -> None:
    state, _ = replay
    box, ca, key = due_box
    expected, build = CASES[case]
    state.status, state.content_type, state.body = build(ca, key)
    before = box.files()
    code, report = box.ensure()
    assert code == 1
    assert report["status"] == "error"
    assert report["error_code"] == expected, report
    assert box.files() == before  # the old pair is untouched...
    assert set(report["certificate"]["sans"]) == set(_names(key))  # ...and still reported
    assert len(state.requests) == 1
    assert "csr" in state.requests[0]["params"]  # the box sent a CSR, never a key
    assert "PRIVATE KEY" not in json.dumps(state.requests[0])


def test_good_answer_replaces_certificate(
    replay: tuple[Replay, str], due_box: tuple[BoxHome, LocalTestCA, Any]
) -> None:
    state, _ = replay
    box, ca, key = due_box
    state.body = grant([ca.leaf(key.public_key(), _names(key))])
    old_cert, old_key = box.files()
    code, report = box.ensure()
    assert code == 0, report
    new_cert, new_key = box.files()
    assert new_key == old_key and new_cert != old_cert


def test_certificate_with_malformed_extension_is_rejected(
    replay: tuple[Replay, str], due_box: tuple[BoxHome, LocalTestCA, Any]
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    state, _ = replay
    box, ca, key = due_box
    now = datetime.now(UTC)
    broken = (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x05a"
            ),
            False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    state.body = grant([broken])
    before = box.files()
    code, report = box.ensure()
    assert (code, report["error_code"]) == (1, "ERR_IOT_HTTPS_LOAD_INVALID_CERT")
    assert box.files() == before


def test_oversized_answer_is_cut_off(
    replay: tuple[Replay, str], due_box: tuple[BoxHome, LocalTestCA, Any]
) -> None:
    state, _ = replay
    box, _, _ = due_box
    state.body = b'{"result": {"x509_pem": "' + b"A" * (2 * 1024 * 1024) + b'"}}'
    code, report = box.ensure()
    assert (code, report["error_code"]) == (1, "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION")
    assert "larger than" in report["detail"]
