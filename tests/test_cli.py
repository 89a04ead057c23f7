"""The root command: every role is reachable, and box commands stay light."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import cli


def test_help_lists_every_role() -> None:
    code, out = cli("--help")
    assert code == 0
    for name in ("box", "issuer", "dns", "demo"):
        assert name in out
    assert cli("nope")[0] == 2


def test_box_commands_do_not_import_the_issuer_stack() -> None:
    code = (
        "import sys; from boxcert.cli import main\n"
        "try:\n    main(['box', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'uvicorn', 'acme', 'starlette') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out


def test_dns_server_does_not_import_the_issuer() -> None:
    """The internet-facing DNS process carries the shared storage only, not the vendor's data
    layer (issuer models, admin queries, CA backends)."""
    code = (
        "import sys\n"
        "import boxcert.dns.cli, boxcert.dns.server, boxcert.dns.zonedata\n"
        "print('ISSUER', sorted(m for m in sys.modules if m.startswith('boxcert.issuer')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "ISSUER []" in out
