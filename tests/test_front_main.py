"""The standalone runner as a process: ready line, SIGTERM stops it, mistakes are one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx


def test_runs_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "boxcert.box.front",
            "--home",
            str(tmp_path),
            "--https-port",
            "0",
            "--http-port",
            "0",
            "--listen",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        password_line = process.stdout.readline()
        assert password_line.startswith("The box password")
        ready = process.stdout.readline().split()
        assert ready[:2] == ["front", "ready"]
        http_port = int(ready[3].split("=")[1])
        page = httpx.get(f"http://127.0.0.1:{http_port}/", timeout=30)
        assert page.status_code == 200 and "HTTPS certificate" in page.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()


def test_a_mistake_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "boxcert.box.front",
            "--home",
            str(tmp_path),
            "--https-port",
            "0",
            "--http-port",
            "0",
            "--upstream",
            "ftp://x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --upstream must be an http:// or https:// URL, not 'ftp://x'"
    ]
