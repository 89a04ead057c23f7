"""The README works as written: the "Using it" block runs as pasted, and every `boxcert` command
line it shows names options its command has."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from boxcert.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLE_DIR = "/tmp/boxcert-example"


def blocks() -> list[tuple[str, str]]:
    """(heading above, text) of every ```sh block."""
    found: list[tuple[str, str]] = []
    heading, code = "", None
    for line in README.splitlines(keepends=True):
        if code is None:
            if line.startswith("```sh"):
                code = ""
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            found.append((heading, code))
            code = None
        else:
            code += line
    return found


def command_lines() -> list[str]:
    lines = []
    for _, block in blocks():
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            line = re.sub(r"^[A-Z]+=\$\((.*)\)$", r"\1", line)  # TOKEN=$(boxcert …)
            if line.startswith("boxcert "):
                lines.append(line.split(" > ", 1)[0].split(" &", 1)[0])
    return lines


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command the words name, and the options given to it (and its groups)."""
    command: click.Command = main
    options: list[str] = []
    for word in words:
        if word.startswith("-") and word != "-":  # "-": a value (read from stdin)
            options.append(word.split("=", 1)[0])
            continue
        if isinstance(command, click.Group):
            sub = command.get_command(click.Context(command), word)
            if sub is not None:
                for opt in options:
                    assert opt in _names(command), f"{opt} is not an option of {command.name}"
                options = []
                command = sub
    for opt in options:
        assert opt in _names(command), f"{opt} is not an option of {command.name}"
    return command, options


def _names(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_names_real_options(line: str) -> None:
    words = shlex.split(line.replace("<", "").replace(">", ""))[1:]
    command, _ = resolve(words)
    assert not isinstance(command, click.Group), f"{line!r} names a group, not a command"


def test_the_using_it_block_runs_as_pasted(tmp_path: Path) -> None:
    (block,) = [b for heading, b in blocks() if heading == "Using it"]
    assert EXAMPLE_DIR in block
    script = block.replace(EXAMPLE_DIR, str(tmp_path / "example"))
    # Whatever the block leaves running is stopped when the shell exits.
    wrapped = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script
    done = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "HTTPS certificate: OK" in done.stdout
    assert "Till 1" in done.stdout and "ok" in done.stdout.split("IDENTIFIER", 1)[1]
    assert "Traceback" not in done.stderr
