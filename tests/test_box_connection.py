"""``boxcert box check-connection`` against real issuer and hub processes: what works, what does
not and what to do, with its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from boxcert.devstack import free_port
from tests.helpers import cli
from tests.system_running import Stack, box_process, start_stack
from tests.test_box_clock import tls_issuer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def check(home: Path) -> tuple[int, dict[str, Any]]:
    code, out = cli("box", "--home", str(home), "check-connection", "--json", stdout_only=True)
    return code, json.loads(out)


def configure(home: Path, *args: str) -> None:
    code, out = cli("box", "--home", str(home), "configure", *args)
    assert code == 0, out


def test_both_reachable(tmp_path: Path, stack: Stack) -> None:
    home = tmp_path / "box"
    configure(home, "--server", stack.hub.url, "--issuer", stack.issuer.url)
    code, report = check(home)
    assert code == 0 and report["ok"], report
    issuer, hub = report["checks"]
    assert issuer["what"] == "issuer" and issuer["ok"]
    assert "zone iot.boxcert.test" in issuer["detail"] and "clock agrees" in issuer["detail"]
    assert hub["what"] == "hub" and hub["ok"] and "answered HTTP 200" in hub["detail"]
    text = box_process(home, "check-connection")
    assert text.returncode == 0 and f"issuer: OK {stack.issuer.url}" in text.stdout


def test_what_does_not_work_is_said_with_exit_1(tmp_path: Path, stack: Stack) -> None:
    home = tmp_path / "box"
    configure(home, "--server", f"http://127.0.0.1:{free_port()}", "--issuer", stack.issuer.url)
    code, report = check(home)
    assert code == 1 and not report["ok"]
    issuer, hub = report["checks"]
    assert issuer["ok"] and not hub["ok"] and "ConnectError" in hub["detail"]
    text = box_process(home, "check-connection")
    assert text.returncode == 1 and "hub: FAILED" in text.stdout and not text.stderr


def test_nothing_configured(tmp_path: Path) -> None:
    code, report = check(tmp_path / "box")
    assert code == 1
    assert [c["ok"] for c in report["checks"]] == [False, False]
    assert "boxcert box connect TOKEN" in report["checks"][1]["advice"]


def test_an_issuer_whose_certificate_the_box_does_not_trust(tmp_path: Path) -> None:
    issuer, _root = tls_issuer(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    try:
        home = tmp_path / "box"
        configure(home, "--server", "http://127.0.0.1:8069", "--issuer", issuer.url)
        code, report = check(home)
    finally:
        issuer.stop()
    assert code == 1
    found = report["checks"][0]
    assert not found["ok"] and "TLS verification failed" in found["detail"]
    assert "--issuer-ca" in found["advice"]
