"""The systemd units: valid for systemd itself, hardened, capabilities only where needed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from boxcert.systemd import ROLES
from tests.helpers import cli

ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="needs systemd-analyze")


def unit_file(tmp_path: Path, role: str) -> Path:
    code, text = cli("systemd-unit", role)
    assert code == 0, text
    path = tmp_path / f"boxcert-{role}.service"
    path.write_text(text)
    return path


@needs_systemd
@pytest.mark.parametrize("role", sorted(ROLES))
def test_unit_verifies_and_is_hardened(tmp_path: Path, role: str) -> None:
    path = unit_file(tmp_path, role)
    verify = subprocess.run([ANALYZE, "verify", str(path)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(path)], capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", security.stdout)
    assert match is not None, security.stdout[-2000:]
    # systemd's scale: 0 (locked down) .. 10 (unprotected); "OK" is under 2.
    assert float(match.group(1)) < 2.0, security.stdout


@pytest.mark.parametrize("role", sorted(ROLES))
def test_capabilities_only_for_low_ports(tmp_path: Path, role: str) -> None:
    text = unit_file(tmp_path, role).read_text()
    caps = re.search(r"^AmbientCapabilities=(.*)$", text, re.M)
    assert caps is not None
    expected = "CAP_NET_BIND_SERVICE" if ROLES[role].binds_low_ports else ""
    assert caps.group(1) == expected
    assert "DynamicUser=yes" in text and "ProtectSystem=strict" in text
    assert f"StateDirectory=boxcert-{role}" in text


def test_unknown_role_is_a_usage_error() -> None:
    assert cli("systemd-unit", "printer")[0] == 2
