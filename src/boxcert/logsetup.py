"""Logging for every role: one stderr handler (journald friendly), text or JSON lines, an
optional rotating file, our loggers apart from the libraries'.

``--log-level`` sets the ``boxcert`` loggers; libraries (httpx, SQLAlchemy, acme, uvicorn …)
stay at WARNING unless ``--library-log-level`` says otherwise, so ``--log-level debug`` shows
our decisions without drowning them. A service picks its default level with
:func:`default_level` (INFO for servers), which an explicit ``--log-level`` overrides.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
_OURS = "boxcert"
_state: dict[str, object] = {"explicit": False, "format": "text"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure(
    level: str | None = None,
    fmt: str = "text",
    *,
    library_level: str = "warning",
    stream: TextIO | None = None,
) -> None:
    """Set up the root handler on ``stream`` (stderr). ``level`` None: WARNING until a service
    asks for its default."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_boxcert_stderr", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler._boxcert_stderr = True  # type: ignore[attr-defined]
    # The handler's own level is what reaches the terminal; our logger may be lower for the
    # files a role adds (the box keeps INFO in box.log while commands print warnings only).
    handler.setLevel((level or "warning").upper())
    root.addHandler(handler)
    root.setLevel(library_level.upper())
    logging.getLogger(_OURS).setLevel((level or "warning").upper())
    _state["explicit"] = level is not None
    _state["handler"] = handler
    _state["format"] = fmt


def default_level(level: str) -> None:
    """A command's own default (servers: info); an explicit ``--log-level`` wins."""
    if not _state["explicit"]:
        logging.getLogger(_OURS).setLevel(level.upper())
        handler = _state.get("handler")
        if isinstance(handler, logging.Handler):
            handler.setLevel(level.upper())


def add_file(path: Path, *, max_bytes: int = 1024 * 1024, backups: int = 3) -> logging.Handler:
    """Also log to ``path``, rotated at ``max_bytes`` with ``backups`` old files kept."""
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(formatter(str(_state["format"])))
    logging.getLogger(_OURS).addHandler(handler)
    return handler


def current() -> tuple[str | None, str]:
    """(level, format) as configured — the level None unless given explicitly — so that a
    child process (an issuer worker) can log the same way."""
    handler = _state.get("handler")
    level = None
    if _state["explicit"] and isinstance(handler, logging.Handler):
        level = logging.getLevelName(handler.level).lower()
    return level, str(_state["format"])
