"""The root command: every role is reachable, and box commands stay light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out


def test_dns_server_does_not_import_the_issuer() -> None:
    """The internet-facing DNS process carries the shared storage only, not the vendor's data
    layer (issuer models, admin queries, CA backends)."""
    code = (
        "import sys\n"
        "import boxcert.dns.cli, boxcert.dns.server, boxcert.dns.zonedata\n"
        "print('ISSUER', sorted(m for m in sys.modules if m.startswith('boxcert.issuer')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "ISSUER []" in out


def boxcert(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "boxcert", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_hoisting_moves_global_options_wherever_they_are() -> None:
    from boxcert.cli import hoist_global_options

    assert hoist_global_options(["box", "status", "--log-level", "debug", "--json"]) == [
        "--log-level",
        "debug",
        "box",
        "status",
        "--json",
    ]
    assert hoist_global_options(["box", "--debug", "status", "--log-format=json"]) == [
        "--debug",
        "--log-format=json",
        "box",
        "status",
    ]
    # after "--" nothing is moved
    assert hoist_global_options(["x", "--", "--debug"]) == ["x", "--", "--debug"]


def test_no_subcommand_reuses_a_global_option_name() -> None:
    """Hoisting is only safe while no sub-command defines an option of the same name."""
    import click

    from boxcert.cli import _GLOBAL_FLAGS, _GLOBAL_VALUED, COMMANDS, main

    globals_ = _GLOBAL_FLAGS | _GLOBAL_VALUED

    def walk(command: click.Command, path: str) -> None:
        for param in command.params:
            clash = set(getattr(param, "opts", [])) & globals_
            assert not clash, f"{path} defines {clash}"
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                sub = command.get_command(click.Context(command), name)
                assert sub is not None
                walk(sub, f"{path} {name}")

    for name in COMMANDS:
        sub = main.get_command(click.Context(main), name)
        assert sub is not None
        walk(sub, name)


def test_usage_error_exits_2_and_failure_is_one_line(tmp_path: Path) -> None:
    wrong = boxcert("issuer", "serve", "--data", str(tmp_path), "--listen", "nope")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    bad_config = tmp_path / "c.toml"
    bad_config.write_text("[issuer.serve]\nlisten = \n")
    failed = boxcert("--config", str(bad_config), "systemd-unit", "box")
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.count("\n") == 1 and "not valid TOML" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_config_file_gives_defaults_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "boxcert.toml"
    config.write_text('[systemd-unit]\nexec = "/opt/boxcert/bin/boxcert"\n')
    from_file = boxcert("systemd-unit", "dns", env={"BOXCERT_CONFIG": str(config)})
    assert from_file.returncode == 0, from_file.stderr
    assert "ExecStart=/opt/boxcert/bin/boxcert " in from_file.stdout
    flag = boxcert("--config", str(config), "systemd-unit", "dns", "--exec", "/usr/bin/boxcert")
    assert "ExecStart=/usr/bin/boxcert " in flag.stdout
    env = boxcert(
        "systemd-unit",
        "dns",
        env={"BOXCERT_CONFIG": str(config), "BOXCERT_SYSTEMD_UNIT_EXECUTABLE": "/env/boxcert"},
    )
    assert "ExecStart=/env/boxcert " in env.stdout


def test_config_file_unknown_option_is_named(tmp_path: Path) -> None:
    config = tmp_path / "boxcert.toml"
    config.write_text('[systemd-unit]\ncolour = "blue"\n')
    result = boxcert("--config", str(config), "systemd-unit", "dns")
    assert result.returncode == 3
    assert "unknown option 'colour'" in result.stderr


def test_a_group_section_shares_its_options_with_every_command_below(tmp_path: Path) -> None:
    from boxcert import configfile
    from boxcert.cli import main

    config = tmp_path / "boxcert.toml"
    config.write_text(
        f'[issuer]\ndata = "{tmp_path}/issuer"\nzone = "iot.example.test"\n'
        '[issuer.serve]\nzone = "iot.other.test"\n'
    )
    defaults = configfile.load(config, main)["issuer"]
    assert defaults["serve"] == {"data_dir": f"{tmp_path}/issuer", "zone": "iot.other.test"}
    assert defaults["database"]["list"]["data_dir"] == f"{tmp_path}/issuer"
    assert defaults["box"]["forget"]["zone"] == "iot.example.test"
    assert "zone" not in defaults["database"]["list"]  # only where the option exists
    # The administration verbs run without repeating --data.
    added = boxcert(
        "--config",
        str(config),
        "issuer",
        "subscription",
        "add",
        "--code",
        "C-1111-2222-33",
        "--line",
        "IoT Box Subscription",
    )
    assert added.returncode == 0, added.stderr
    listed = boxcert("issuer", "subscription", "list", env={"BOXCERT_CONFIG": str(config)})
    assert listed.returncode == 0 and "IoT Box Subscription" in listed.stdout, listed.stderr
    assert (tmp_path / "issuer").is_dir()
    config.write_text('[issuer]\ncolour = "blue"\n')
    unknown = boxcert("--config", str(config), "issuer", "database", "list")
    assert unknown.returncode == 3 and "unknown option 'colour' for 'issuer'" in unknown.stderr


def test_every_toml_example_in_the_docs_loads(tmp_path: Path) -> None:
    import re

    from boxcert import configfile
    from boxcert.cli import main

    root = Path(__file__).resolve().parent.parent
    blocks = [
        block
        for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
        for block in re.findall(
            r"```toml\n(.*?)```|<<'TOML'\n(.*?)\nTOML", page.read_text(), flags=re.S
        )
    ]
    assert len(blocks) >= 2  # docs/operations.md and the README's production block
    for index, block in enumerate(blocks):
        config = tmp_path / f"example-{index}.toml"
        config.write_text("".join(block))
        assert configfile.load(config, main)


ROLE_MODULES = {
    "box": ["boxcert.box.cli", "boxcert.box.runner", "boxcert.box.front.server"],
    "issuer": ["boxcert.issuer.cli", "boxcert.issuer.site", "boxcert.issuer.server"],
    "hub": ["boxcert.hub.cli", "boxcert.hub.server", "boxcert.hub.app"],
    "dns": ["boxcert.dns.cli", "boxcert.dns.server", "boxcert.dns.metrics"],
}


@pytest.mark.parametrize("role", sorted(ROLE_MODULES))
def test_each_role_needs_only_its_own_extra(role: str) -> None:
    """What `pip install 'boxcert[ROLE]'` leaves out cannot be imported by the role: every
    package of another extra is hidden while the role's modules load (bench/install_sizes.py
    proves the same with real virtualenvs)."""
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras: dict[str, list[str]] = project["project"]["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        found = (re.match(r"[A-Za-z0-9_.-]+", r) for r in requirements)
        return {m.group(0).lower() for m in found if m and m.group(0) != "boxcert"}

    others = set().union(*(names(v) for k, v in extras.items() if k not in ("all", "dev")))
    hidden = sorted(others - names(extras.get(role, [])))
    code = (
        "import importlib, importlib.abc, sys\n"
        f"HIDDEN = {hidden!r}\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in HIDDEN:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hide())\n"
        f"for module in {ROLE_MODULES[role]!r}:\n"
        "    importlib.import_module(module)\n"
        "print('LOADED')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "LOADED" in done.stdout, (hidden, done.stderr[-600:])
