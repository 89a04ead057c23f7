"""The access log (issuer/access.py): one line per request in the service's log format, with
the exchange's outcome, and no secret — run through a real ``issuer serve`` with a contract
code, a CSR, an admin token and a portal password on the wire; ``--no-access-log`` is quiet."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx

from boxcert.issuer.access import AccessLogWriter
from tests.helpers import cli, start_issuer
from tests.issuer_support import body, box_csr

DB, CODE = "db-access-log", "C-SECRET-CODE-7f3a9c21"
PASSWORD = "correct horse battery staple 41"


def test_text_lines_are_logging_lines() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, "text", flush_every=60)
    writer.write('127.0.0.1 "POST /iot/x509" 200 10 0.5ms granted')
    assert stream.getvalue() == ""  # batched
    writer.close()
    line = stream.getvalue()
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO boxcert\.access: 127\.0\.0\.1 "
    assert re.fullmatch(pattern + r'"POST /iot/x509" 200 10 0\.5ms granted\n', line)


def test_json_lines() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, "json", flush_every=60)
    writer.write('::1 "GET /healthz" 200 5 0.1ms')
    writer.close()
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "info" and entry["logger"] == "boxcert.access"
    assert entry["message"] == '::1 "GET /healthz" 200 5 0.1ms'
    assert entry["time"].endswith("+00:00")


def test_a_full_batch_is_written_at_once() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, flush_every=60, max_batch=3)
    for n in range(3):
        writer.write(f"line {n}")
    assert stream.getvalue().count("\n") == 3
    writer.close()


def test_no_secret_in_the_access_log(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer", "--workers", "1")
    try:
        issuer.add_eligible(DB, CODE)
        status, token = cli(
            "issuer", "token", "add", "--data", str(issuer.data_dir), "--name", "billing"
        )
        assert status == 0
        bearer = token.split()[0]
        csr = box_csr()
        with httpx.Client(timeout=30) as client:
            url = issuer.url + "/iot/x509"
            assert "x509_pem" in client.post(url, json=body(DB, CODE, csr)).text
            assert "x509_pem" in client.post(url, json=body(DB, CODE)).text
            refused = client.post(url, json=body(DB, CODE + "x"))
            assert "credentials_not_recognized" in refused.text
            listed = client.get(
                issuer.url + "/api/v1/subscriptions", headers={"Authorization": f"Bearer {bearer}"}
            )
            assert listed.status_code == 200
            client.post(issuer.url + "/login", data={"email": "a@b.test", "password": PASSWORD})
            client.get(issuer.url + f"/healthz?code={CODE}")
            client.get(issuer.url + "/no/such/%1b[31mpath")  # an escape, decoded
    finally:
        issuer.stop()
    log = issuer.log()
    lines = [line for line in log.splitlines() if "boxcert.access" in line]
    assert any('"POST /iot/x509" 200' in line and line.endswith(" granted") for line in lines)
    assert any(line.endswith("refused:credentials_not_recognized") for line in lines)
    assert any('"GET /api/v1/subscriptions" 200' in line for line in lines)
    assert any('"GET /healthz" 200' in line for line in lines)
    assert "\x1b" not in log
    for secret in (CODE, bearer, PASSWORD, "BEGIN CERTIFICATE REQUEST", csr.splitlines()[1]):
        assert secret not in log, secret
    key_pem = "PRIVATE KEY"
    assert key_pem not in log


def test_no_access_log(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer", "--workers", "1", "--no-access-log")
    try:
        with httpx.Client(timeout=30) as client:
            assert client.get(issuer.url + "/healthz").status_code == 200
    finally:
        issuer.stop()
    assert "boxcert.access" not in issuer.log()
