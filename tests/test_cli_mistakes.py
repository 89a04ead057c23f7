"""Routine mistakes, made through the real console entry point: each gives one line on stderr
naming the problem (and the option), a documented exit code, and never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxcert import devstack

EXIT_USAGE, EXIT_FAILED = 2, 3


def boxcert(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxcert", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ},
    )


def one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def down_port() -> int:
    return devstack.free_port()  # nothing listens there


def test_a_second_server_on_a_taken_port(tmp_path: Path, taken_port: int) -> None:
    for role in ("issuer", "hub"):
        line = one_line(
            boxcert(
                role, "serve", "--data", str(tmp_path / role), "--listen", f"127.0.0.1:{taken_port}"
            ),
            EXIT_FAILED,
        )
        assert f"127.0.0.1:{taken_port}" in line and "already in use" in line


def test_a_database_that_is_down(tmp_path: Path, down_port: int) -> None:
    url = f"postgresql+psycopg://boxcert@127.0.0.1:{down_port}/boxcert"
    for args in (
        ("issuer", "database", "list"),
        ("issuer", "serve"),
        ("hub", "boxes"),
        ("issuer", "box", "list"),
        ("issuer", "database", "remove", "--uuid", "u"),
        ("issuer", "box", "forget", "--box", "a" * 16),  # revokes: builds the service
    ):
        line = one_line(boxcert(*args, "--data", str(tmp_path / "d"), "--db", url), EXIT_FAILED)
        assert f"127.0.0.1:{down_port}" in line and "refused" in line.lower()


def test_a_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/dir/issuer.sqlite3"
    line = one_line(
        boxcert("issuer", "database", "list", "--data", str(tmp_path / "d"), "--db", url),
        EXIT_FAILED,
    )
    assert "cannot open database" in line and "missing/dir" in line


def test_swapped_or_missing_tls_files(tmp_path: Path) -> None:
    _, cert, key = devstack.tls_files(tmp_path / "tls")
    for role in ("issuer", "hub"):
        line = one_line(
            boxcert(
                role,
                "serve",
                "--data",
                str(tmp_path / role),
                "--tls-cert",
                str(key),
                "--tls-key",
                str(cert),
            ),
            EXIT_FAILED,
        )
        assert "swapped" in line
    line = one_line(
        boxcert(
            "issuer",
            "serve",
            "--data",
            str(tmp_path / "i"),
            "--tls-cert",
            str(tmp_path / "nope.pem"),
            "--tls-key",
            str(key),
        ),
        EXIT_USAGE,
    )
    assert "--tls-cert" in line and "nope.pem" in line and "does not exist" in line


def test_bad_values_name_the_option(tmp_path: Path) -> None:
    home = str(tmp_path / "box")
    for args, option in (
        (("box", "--home", home, "configure", "--issuer", "ftp://certs.example.net"), "issuer"),
        (("box", "--home", home, "configure", "--issuer", "http://certs.example.net"), "issuer"),
        (("issuer", "serve", "--data", str(tmp_path / "i"), "--listen", "nowhere"), "--listen"),
        (("issuer", "serve", "--data", str(tmp_path / "i"), "--listen", "0.0.0.0:8443"), "TLS"),
    ):
        line = one_line(boxcert(*args), EXIT_USAGE)
        assert option in line


def test_a_box_pointed_at_a_wrong_port_or_an_untrusted_issuer(
    tmp_path: Path, down_port: int
) -> None:
    home = str(tmp_path / "box")
    assert (
        boxcert(
            "box",
            "--home",
            home,
            "configure",
            "--server",
            "http://127.0.0.1:8069",
            "--db-uuid",
            "u",
            "--enterprise-code",
            "c",
            "--issuer",
            f"http://127.0.0.1:{down_port}",
        ).returncode
        == 0
    )
    done = boxcert("box", "--home", home, "ensure", "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    status = json.loads(done.stdout)
    assert status["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION"
    assert "refused" in status["detail"].lower()

    # an HTTPS issuer whose certificate the box does not trust: a status, not a traceback
    _, cert, key = devstack.tls_files(tmp_path / "tls")
    issuer, url = devstack.start_issuer(
        tmp_path / "issuer", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    try:
        assert url.startswith("https://")
        assert boxcert("box", "--home", home, "configure", "--issuer", url).returncode == 0
        done = boxcert("box", "--home", home, "ensure", "--json")
    finally:
        issuer.stop()
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    status = json.loads(done.stdout)
    assert status["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION"
    assert "TLS verification failed" in status["detail"]


def test_a_box_home_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for home in ("/proc/nope", str(blocker / "home")):
        for verb in ("status", "ensure"):
            done = boxcert("box", "--home", home, verb, "--json")
            assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
            report = json.loads(done.stdout)
            assert report["status"] == "error", report
            assert report["detail"].startswith(f"{home} cannot be used: "), report
            assert "--home" in report["detail"]
        line = one_line(boxcert("box", "--home", home, "configure", "--zone", "x.test"), 3)
        assert home in line and ("cannot be written" in line or "cannot be used" in line), line
    assert blocker.read_text() == "not a directory"
