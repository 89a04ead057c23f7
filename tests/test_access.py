"""The issuer's access log (issuer/access.py, around boxcert/accesslog.py): one line per request,
with the exchange's outcome, and no secret — run through a real ``issuer serve`` with a contract
code, a CSR, an admin token and a portal password on the wire; ``--no-access-log`` is quiet."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import cli, start_issuer
from tests.issuer_support import body, box_csr

DB, CODE = "db-access-log", "C-SECRET-CODE-7f3a9c21"
PASSWORD = "correct horse battery staple 41"


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
