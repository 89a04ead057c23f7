"""``boxcert demo`` as a user runs it: real processes; ``--once`` exits 0 with the box paired
and its certificate OK; without it, the printed curl and chromium commands really open the
box's homepage with a trusted certificate, the hub's URL and password really log in, and
Ctrl-C stops everything."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.hub_running import AdminClient

HANG_GUARD = 120.0


def test_demo_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "boxcert", "demo", "--once", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "HTTPS certificate: OK" in out.stdout
    assert "url:     https://127-0-0-1." in out.stdout
    assert "paired with the hub at http://127.0.0.1:" in out.stdout
    assert "hub: paired" in out.stdout
    assert "Traceback" not in out.stderr


def test_demo_once_with_acme(tmp_path: Path) -> None:
    if shutil.which("pebble") is None:
        pytest.skip("pebble not installed")
    out = subprocess.run(
        [sys.executable, "-m", "boxcert", "demo", "--once", "--ca", "acme",
         "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "issuer:  Pebble Intermediate CA" in out.stdout
    assert "hub: paired" in out.stdout


def _read_until(proc: subprocess.Popen[str], last: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + HANG_GUARD
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(last) or time.monotonic() > deadline:
            return lines
    raise AssertionError("the demo ended early:\n" + "\n".join(lines))


def test_the_printed_commands_open_the_homepage_with_a_trusted_certificate(
    tmp_path: Path,
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "boxcert", "demo", "--dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _read_until(demo, "The box keeps its certificate valid")
        printed = "\n".join(lines)
        curl = next(line.strip() for line in lines if line.startswith("  curl "))
        done = subprocess.run(
            shlex.split(curl), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert 'id="verdict">OK<' in done.stdout and "This box" in done.stdout

        if shutil.which("chromium") and shutil.which("certutil"):
            chromium = next(line.strip() for line in lines if line.startswith("  HOME="))
            home, *argv = shlex.split(chromium)
            argv[-1:-1] = ["--headless", "--disable-gpu", "--dump-dom"]
            env = {**os.environ, "HOME": home.removeprefix("HOME=")}
            opened = subprocess.run(
                argv, capture_output=True, text=True, timeout=90, check=False, env=env
            )
            assert 'id="verdict">OK<' in opened.stdout, opened.stderr[-2000:]

        hub_url = next(line.split()[1] for line in lines if line.startswith("hub: "))
        password = next(line.split(": ")[1] for line in lines if "admin password:" in line)
        admin = AdminClient(hub_url.removesuffix("/boxes"))
        assert admin.login(password).status_code == 303
        page = admin.http.get("/boxes").text
        assert "Demo box" in page and "https://127-0-0-1." in page
        admin.close()
        assert "Traceback" not in printed
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert code == 0
    with pytest.raises(httpx.ConnectError):  # the hub went with it
        httpx.get(hub_url, timeout=10)
