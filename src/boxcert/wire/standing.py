"""The box's daily question to the issuer: "does my certificate still stand?".

``POST /iot/x509/standing`` with ``{"params": {"db_uuid", "enterprise_code", "serial"}}``
(``serial``: the leaf's serial number in lower-case hex without leading zeros). The answer is
HTTP 200 with ``{"result": {"serial", "standing", "revoked_at"?, "reason"?: {"code",
"message"}}}``, ``standing`` one of :class:`Standing`; or, when the credentials do not match a
database, the refusal of :mod:`boxcert.wire.x509` (``{"result": {"error": …}}``). The issuer
answers it with one indexed query, so every box may ask it daily.

``revoked``: the certificate is withdrawn; ``reason.code`` is the refusal that ended the
entitlement (:mod:`boxcert.wire.refusals`) when that is why, ``certificate_revoked``
otherwise, and ``reason.message`` says it for a person. The box then stops serving the
certificate and asks for a new one, which the issuer grants again once the entitlement is back.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boxcert.wire.text import is_clean_text, printable
from boxcert.wire.x509 import (
    MAX_FIELD_CHARS,
    RefusalAnswer,
    WireError,
    canonical_uuid,
    parse_timestamp,
)

STANDING_PATH = "/iot/x509/standing"
_SERIAL = re.compile(r"^[0-9a-f]{1,40}$")


class Standing(enum.StrEnum):
    GOOD = "good"  # issued by this issuer for this database, not revoked
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # not a certificate this issuer issued for this database


def normalize_serial(text: str) -> str:
    """A serial in the one form compared: lower-case hex, no leading zeros; WireError else."""
    digits = text.strip().lower().removeprefix("0x")
    serial = digits.lstrip("0") or "0"
    if not digits or not _SERIAL.match(serial):
        raise WireError('"params.serial" must be the serial number in hex (at most 20 bytes)')
    return serial


def serial_hex(serial_number: int) -> str:
    return format(serial_number, "x")


@dataclass(frozen=True, slots=True)
class StandingQuery:
    db_uuid: str
    enterprise_code: str
    serial: str

    def __repr__(self) -> str:  # the contract code stays out of logs and tracebacks
        return f"StandingQuery(db_uuid={self.db_uuid!r}, serial={self.serial!r}, …)"

    def to_json(self) -> dict[str, Any]:
        return {
            "params": {
                "db_uuid": self.db_uuid,
                "enterprise_code": self.enterprise_code,
                "serial": self.serial,
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> StandingQuery:
        if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
            raise WireError('the body must be a JSON object with a "params" object')
        params = body["params"]
        fields: dict[str, str] = {}
        for key in ("db_uuid", "enterprise_code", "serial"):
            value = params.get(key)
            if not isinstance(value, str):
                raise WireError(f'"params.{key}" must be a string')
            if len(value) > MAX_FIELD_CHARS or not is_clean_text(value):
                raise WireError(f'"params.{key}" is too long or holds control characters')
            fields[key] = value
        return cls(
            canonical_uuid(fields["db_uuid"]),
            fields["enterprise_code"].strip(),
            normalize_serial(fields["serial"]),
        )


@dataclass(frozen=True, slots=True)
class StandingAnswer:
    serial: str
    standing: Standing
    revoked_at: datetime | None = None
    reason_code: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"serial": self.serial, "standing": self.standing.value}
        if self.revoked_at is not None:
            result["revoked_at"] = self.revoked_at.isoformat()
        if self.reason_code is not None:
            result["reason"] = {"code": self.reason_code, "message": self.reason}
        return {"result": result}


def parse_standing(body: Any) -> StandingAnswer | RefusalAnswer | None:
    """Read the issuer's answer; None when it has no usable result. Text comes out printable."""
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        return None
    result = body["result"]
    error = result.get("error")
    if isinstance(error, dict):
        return RefusalAnswer(
            printable(error.get("code", "unknown"), 64), printable(error.get("message", ""))
        )
    try:
        standing = Standing(result.get("standing"))
    except ValueError:
        return None
    reason = result.get("reason")
    code = message = None
    if isinstance(reason, dict):
        code = printable(reason.get("code", "unknown"), 64)
        message = printable(reason.get("message", ""))
    return StandingAnswer(
        serial=printable(result.get("serial", ""), 64),
        standing=standing,
        revoked_at=parse_timestamp(result.get("revoked_at")),
        reason_code=code,
        reason=message or "",
    )
