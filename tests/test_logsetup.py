"""Logging: our level apart from the libraries', JSON lines that parse, rotation."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxcert import logsetup


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("boxcert")
    saved = (list(root.handlers), root.level, list(ours.handlers), ours.level)
    yield
    root.handlers[:], ours.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    ours.setLevel(saved[3])


def test_json_lines_and_library_noise_kept_out() -> None:
    stream = io.StringIO()
    logsetup.configure("debug", "json", stream=stream)
    logging.getLogger("boxcert.box.agent").debug("checking %s", "now")
    logging.getLogger("httpx").debug("library chatter")
    logging.getLogger("httpx").warning("library warning")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["logger"], e["level"], e["message"]) for e in lines] == [
        ("boxcert.box.agent", "debug", "checking now"),
        ("httpx", "warning", "library warning"),
    ]
    assert all(e["time"].endswith("+00:00") for e in lines)


def test_service_default_applies_only_without_an_explicit_level() -> None:
    logsetup.configure(None, "text", stream=io.StringIO())
    logsetup.default_level("info")
    assert logging.getLogger("boxcert").level == logging.INFO
    logsetup.configure("error", "text", stream=io.StringIO())
    logsetup.default_level("info")
    assert logging.getLogger("boxcert").level == logging.ERROR


def test_file_rotates(tmp_path: Path) -> None:
    logsetup.configure("info", "text", stream=io.StringIO())
    handler = logsetup.add_file(tmp_path / "box.log", max_bytes=2000, backups=2)
    try:
        for i in range(100):
            logging.getLogger("boxcert.test").info("line %03d %s", i, "x" * 40)
    finally:
        handler.close()
        logging.getLogger("boxcert").removeHandler(handler)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["box.log", "box.log.1", "box.log.2"]
    assert all((tmp_path / f).stat().st_size <= 2100 for f in files)
