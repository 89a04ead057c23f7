"""What the agent remembers between runs: the last attempt's outcome, as data.

``state.json`` holds ``{"last_attempt": {"at", "ok", "code", "suffix", "detail", "failures",
"refusal", "advice"}}``: the error code and its suffix apart (never the display text ``"ERR_…
404"``), the refusal code the issuer gave if any, the key of the advice that fits the cause
(:mod:`boxcert.box.advice`), and the number of failures in a row. A file in the
format of earlier versions (``"error_code": "ERR_… 404"``) is read as well. A missing or
unparsable file means a fresh box; a file that cannot be used at all (a directory in its
place) is a BoxFileError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boxcert import codes
from boxcert.box.advice import Advice
from boxcert.box.files import SMALL_FILE_BYTES, BoxPaths, read_optional, write_file
from boxcert.wire import RefusalCode, parse_timestamp, printable


@dataclass(frozen=True, slots=True)
class LastAttempt:
    at: datetime
    ok: bool
    code: codes.ErrorCode | None
    suffix: str
    detail: str
    failures: int  # failures in a row, 0 after a success
    refusal: RefusalCode | None = None
    advice: Advice | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "ok": self.ok,
            "code": None if self.code is None else self.code.code,
            "suffix": self.suffix,
            "detail": self.detail,
            "failures": self.failures,
            "refusal": None if self.refusal is None else self.refusal.value,
            "advice": None if self.advice is None else self.advice.value,
        }

    @classmethod
    def from_json(cls, raw: object) -> LastAttempt | None:
        """Read either format; None when the record is unusable."""
        if not isinstance(raw, dict):
            return None
        at = parse_timestamp(raw.get("at"))
        ok = raw.get("ok")
        failures = raw.get("failures", 0)
        if at is None or not isinstance(ok, bool):
            return None
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            failures = 0
        if "code" in raw:
            code = codes.BY_CODE.get(raw["code"]) if isinstance(raw["code"], str) else None
            suffix = raw.get("suffix", "")
        else:  # the format of earlier versions: "ERR_… 404" as one string
            shown = raw.get("error_code")
            shown = shown if isinstance(shown, str) else ""
            code = codes.lookup(shown) if shown else None
            suffix = shown[len(code.code) :].strip() if code is not None else ""
        try:
            refusal: RefusalCode | None = RefusalCode(str(raw.get("refusal")))
        except ValueError:
            refusal = None
        try:
            advice: Advice | None = Advice(str(raw.get("advice")))
        except ValueError:
            advice = None
        return cls(
            at=at,
            ok=ok,
            code=code,
            suffix=printable(suffix, 16) if isinstance(suffix, str) else "",
            detail=printable(raw.get("detail", ""), 1000),
            failures=min(failures, 1_000_000),
            refusal=refusal,
            advice=advice,
        )


def load_last(paths: BoxPaths) -> LastAttempt | None:
    """The last attempt; None for a fresh box or a damaged record (the box starts afresh)."""
    data = read_optional(paths.state, SMALL_FILE_BYTES)  # BoxFileError: not a regular file
    if data is None:
        return None
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return LastAttempt.from_json(raw.get("last_attempt") if isinstance(raw, dict) else None)


def save_last(paths: BoxPaths, last: LastAttempt) -> None:
    write_file(paths.state, json.dumps({"last_attempt": last.to_json()}).encode(), 0o644)


def next_record(
    previous: LastAttempt | None,
    at: datetime,
    *,
    code: codes.ErrorCode | None = None,
    suffix: str = "",
    detail: str,
    ok: bool,
    refusal: RefusalCode | None = None,
    advice: Advice | None = None,
) -> LastAttempt:
    """The record that follows ``previous``: the failure streak grows or resets."""
    failures = 0 if ok else (previous.failures if previous and not previous.ok else 0) + 1
    return LastAttempt(at, ok, code, suffix, detail, failures, refusal, advice)
