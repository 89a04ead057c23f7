"""Budgets of the standing fuzz and fault suite.

Every fuzz or fault test asks :func:`budget` how many cases to try: a small number by default,
so ``make test`` stays fast, and the long budget under ``make fuzz`` (``BOXCERT_FUZZ=long``).
Tests that finish print their figures with :func:`report`; ``make fuzz`` collects them for
``docs/security.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LONG = os.environ.get("BOXCERT_FUZZ", "") == "long"
REPORT = os.environ.get("BOXCERT_FUZZ_REPORT", "")


def budget(fast: int, long: int) -> int:
    """How many cases to try in this run."""
    return long if LONG else fast


def report(name: str, **figures: object) -> None:
    """Record a test's figures (cases tried, failures, ...) when ``make fuzz`` asks for them."""
    if not REPORT:
        return
    with Path(REPORT).open("a") as f:
        f.write(json.dumps({"test": name, **figures}) + "\n")
