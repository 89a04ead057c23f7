"""What the agent remembers between runs: the last attempt's outcome and failure streak."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from boxcert import pki
from boxcert.box.config import BoxPaths


@dataclass(frozen=True, slots=True)
class LastAttempt:
    at: str
    ok: bool
    error_code: str | None
    detail: str
    failures: int  # failures in a row, 0 after a success


def load_last(paths: BoxPaths) -> LastAttempt | None:
    try:
        raw = json.loads(paths.state.read_text())
        return LastAttempt(**raw["last_attempt"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no or damaged state: behave as a fresh box


def save_last(
    paths: BoxPaths, now: datetime, ok: bool, error_code: str | None, detail: str
) -> LastAttempt:
    previous = load_last(paths)
    failures = 0 if ok else (previous.failures if previous else 0) + 1
    last = LastAttempt(now.isoformat(), ok, error_code, detail, failures)
    pki.atomic_write(paths.state, json.dumps({"last_attempt": asdict(last)}).encode(), 0o644)
    return last
