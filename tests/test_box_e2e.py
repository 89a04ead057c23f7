"""The box against a real issuer process: every error code of the guide, from the CLI."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from boxcert.devstack import free_port
from tests.helpers import BoxHome, IssuerProcess, LocalTestCA, configured_box, start_issuer


def test_fresh_box_gets_certificate_and_status_is_ok(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    code, report = box.ensure()
    assert code == 0, report
    assert report["status"] == "ok" and report["error_code"] is None
    cert = report["certificate"]
    label = cert["sans"][1].split(".")[0]
    assert sorted(cert["sans"]) == sorted(
        [f"*.{label}.iot.boxcert.test", f"{label}.iot.boxcert.test"]
    )
    assert cert["url"] == f"https://127-0-0-1.{label}.iot.boxcert.test"
    assert stat.S_IMODE(os.stat(box.key_path).st_mode) == 0o600
    # The chain verifies with openssl against the issuer's root.
    chain = box.cert_path.read_text()
    leaf, _, rest = chain.partition("-----END CERTIFICATE-----\n")
    (tmp_path / "leaf.pem").write_text(leaf + "-----END CERTIFICATE-----\n")
    (tmp_path / "untrusted.pem").write_text(rest)
    out = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(issuer.root_pem),
            "-untrusted",
            str(tmp_path / "untrusted.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # status agrees without contacting anything, and a second ensure changes nothing.
    assert box.status() == (0, report)
    before = box.files()
    assert box.ensure()[0] == 0
    assert box.files() == before
    # The contract code is never in the box's log or its status output.
    assert eligible[1] not in box.log()
    assert eligible[1] not in box.run("status")[1]
    assert eligible[1] not in issuer.log()


def test_no_server(tmp_path: Path) -> None:
    box = BoxHome(tmp_path / "box")
    code, report = box.ensure()
    assert code == 1
    assert report["error_code"] == "ERR_IOT_HTTPS_CHECK_NO_SERVER"
    assert box.status()[1]["error_code"] == "ERR_IOT_HTTPS_CHECK_NO_SERVER"


def test_no_credential(tmp_path: Path, issuer: IssuerProcess) -> None:
    box = BoxHome(tmp_path / "box")
    box.configure("--server", "http://127.0.0.1:8069", "--issuer", issuer.url)
    code, report = box.ensure()
    assert (code, report["status"]) == (1, "error")
    assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL"
    assert "database UUID" in report["detail"] and "contract code" in report["detail"]
    box.configure("--db-uuid", "u-1")
    assert box.ensure()[1]["detail"] == "Missing on the box: contract code."
    # status remembers why the last attempt failed
    assert box.status()[1]["error_code"] == "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL"


def test_issuer_unreachable(tmp_path: Path) -> None:
    box = BoxHome(tmp_path / "box")
    port = free_port()  # nothing listens there
    box.configure(
        "--server",
        "http://127.0.0.1:8069",
        "--db-uuid",
        "u",
        "--enterprise-code",
        "c",
        "--issuer",
        f"http://127.0.0.1:{port}",
    )
    code, report = box.ensure()
    assert code == 1
    assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION"
    assert "ConnectError" in report["detail"]
    assert "Traceback" in box.log()  # the full exception is in the box log


def test_unusual_status(tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    box.configure("--issuer", issuer.url + "/no/such/prefix")
    code, report = box.ensure()
    assert code == 1
    assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404"
    assert "404" in report["detail"]


def test_refusal_gives_no_result_with_reason(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    db_uuid, contract = eligible
    issuer.admin("database", "set-kind", "--uuid", db_uuid, "--kind", "staging")
    box = configured_box(tmp_path / "box", issuer, db_uuid, contract)
    code, report = box.ensure()
    assert code == 1
    assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
    assert report["detail"].startswith("database_not_production:")
    assert "staging" in report["detail"]


def test_unreadable_certificate_then_self_repair(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    assert box.ensure()[0] == 0
    box.cert_path.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    code, report = box.status()
    assert code == 1
    assert report["error_code"] == "ERR_IOT_HTTPS_CHECK_CERT_READ_EXCEPTION"
    assert str(box.cert_path) in report["detail"]
    # ensure replaces a damaged certificate file with a fresh certificate
    code, report = box.ensure()
    assert code == 0 and report["status"] == "ok"


def test_damaged_key_is_reported_not_replaced(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    assert box.ensure()[0] == 0
    box.key_path.write_text("garbage")
    for command in (box.status, box.ensure):
        code, report = command()
        assert code == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_CHECK_CERT_READ_EXCEPTION"
        assert "key file" in report["detail"]
    assert box.key_path.read_text() == "garbage"  # the box's identity is not silently changed


def test_tls_to_issuer_is_verified(tmp_path: Path, eligible: tuple[str, str]) -> None:
    ca = LocalTestCA.create("issuer tls root")
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    cert, key = ca.server_files(tls_dir)
    issuer = start_issuer(tmp_path / "tls-issuer", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert issuer.url.startswith("https://127.0.0.1:")
        issuer.add_eligible(*eligible)
        box = configured_box(tmp_path / "box", issuer, *eligible)
        code, report = box.ensure()  # the issuer's TLS root is not trusted yet
        assert code == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION"
        assert "TLS verification failed" in report["detail"]
        box.configure("--issuer-ca", str(ca.write(tmp_path / "issuer-ca.pem")))
        code, report = box.ensure()
        assert code == 0, report
    finally:
        issuer.stop()


def test_plain_http_only_to_loopback(tmp_path: Path) -> None:
    box = BoxHome(tmp_path / "box")
    code, out = box.run("configure", "--issuer", "http://certs.example.com")
    assert code == 2
    assert "only allowed to this machine" in out


def test_renewal_after_restart_of_issuer_keeps_label(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    """The box's name comes from its key: a new certificate keeps the same URL."""
    box = configured_box(tmp_path / "box", issuer, *eligible)
    first = box.ensure()[1]["certificate"]
    box.cert_path.unlink()
    second = box.ensure()[1]["certificate"]
    assert first["url"] == second["url"]
    assert first["sans"] == second["sans"]
