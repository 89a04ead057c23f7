"""The issuer as a real process over real sockets: what only the process boundary shows (the
CLI's serve, TLS, slow clients, start-up errors, private files). The request matrix runs
in-process in test_issuer_app.py."""

from __future__ import annotations

import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from boxcert import devstack, pki
from tests.helpers import IssuerProcess, cli, start_issuer
from tests.issuer_support import body, box_csr


def test_grant_and_refusal_over_http(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    key = pki.make_ec_key()
    result = issuer.post(body(*eligible, box_csr(key)), path="/odoo-enterprise/iot/x509")
    leaf = pki.load_chain(result.json()["result"]["x509_pem"])[0]
    assert pki.same_public_key(leaf.public_key(), key.public_key())
    refused = issuer.post(body(eligible[0], "wrong", box_csr()))
    assert refused.json()["result"]["error"]["code"] == "credentials_not_recognized"
    assert eligible[1] not in issuer.log()


def test_revoke_then_reissue_local(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    first = issuer.post(body(*eligible)).json()["result"]
    code, out = cli("issuer", "revoke", "--data", str(issuer.data_dir), "--domain", first["domain"])
    assert code == 0 and out.startswith("revoked ")
    issuer.settle()  # the revocation was made by another process
    second = issuer.post(body(*eligible)).json()["result"]
    assert second["x509_pem"] != first["x509_pem"]
    code, out = cli("issuer", "revoke", "--data", str(issuer.data_dir), "--domain", "nope.test")
    assert code == 1 and "no valid certificate covers nope.test" in out


def test_issuer_data_is_private(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    assert stat.S_IMODE(issuer.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((issuer.data_dir / "issuer.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((issuer.data_dir / "ca" / "intermediate.key").stat().st_mode) == 0o600


def test_plain_http_refused_off_loopback(tmp_path: Path) -> None:
    code, out = cli("issuer", "serve", "--data", str(tmp_path / "d"), "--listen", "0.0.0.0:0")
    assert code == 2
    assert "--behind-tls-proxy" in out


def test_serves_tls(tmp_path: Path) -> None:
    ca, cert, key = devstack.tls_files(tmp_path / "tls")
    issuer = start_issuer(tmp_path / "issuer", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert issuer.url.startswith("https://127.0.0.1:")
        verify = ssl.create_default_context(cafile=str(ca))
        health = httpx.get(issuer.url + "/healthz", verify=verify)
        assert health.json()["status"] == "ok"
    finally:
        issuer.stop()


def _serve_fails(tmp_path: Path, *args: str) -> str:
    """Run ``issuer serve`` expecting it to stop at once; its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "boxcert", "issuer", "serve", "--data", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # the documented "could not do its job"
    assert "Traceback" not in done.stderr
    return done.stderr


def test_address_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _serve_fails(tmp_path, "--listen", f"127.0.0.1:{port}")
    assert err.strip().splitlines() == [
        f"boxcert: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(is another server running?)"
    ]


def test_mismatched_tls_files_are_one_line(tmp_path: Path) -> None:
    _, cert, _ = devstack.tls_files(tmp_path / "a")
    _, _, other_key = devstack.tls_files(tmp_path / "b")
    err = _serve_fails(tmp_path, "--tls-cert", str(cert), "--tls-key", str(other_key))
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("boxcert: cannot use TLS certificate")


def test_slow_clients_are_cut_off(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer", "--header-timeout", "1", "--body-timeout", "1")
    try:
        host, port = issuer.url.removeprefix("http://").rsplit(":", 1)
        slow: list[socket.socket] = []
        for head in (
            b"POST /iot/x509 HTTP/1.1\r\nHost: x\r\n",
            b"POST /iot/x509 HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{",
        ):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(head)
            slow.append(sock)
        for sock in slow:
            assert sock.recv(1) == b""  # closed by the issuer, well before the 30 s guard
            sock.close()
        assert httpx.get(issuer.url + "/healthz").status_code == 200
        log = issuer.log()
        assert "no complete request head within 1 s" in log
        assert "went away before its request was complete" in log
        assert "Traceback" not in log and "internal error" not in log
    finally:
        issuer.stop()
