"""``boxcert demo --once`` as a user runs it: a real process, exit 0, a URL printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "boxcert", "demo", "--once", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "HTTPS certificate: OK" in out.stdout
    assert "url:     https://127-0-0-1." in out.stdout
    assert "Traceback" not in out.stderr


def test_demo_once_with_acme(tmp_path: Path) -> None:
    import shutil

    import pytest

    if shutil.which("pebble") is None:
        pytest.skip("pebble not installed")
    out = subprocess.run(
        [sys.executable, "-m", "boxcert", "demo", "--once", "--ca", "acme",
         "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "issuer:  Pebble Intermediate CA" in out.stdout
    assert "-> 127.0.0.1" in out.stdout  # the box's name resolves through our DNS server
