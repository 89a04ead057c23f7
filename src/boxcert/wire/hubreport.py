"""The hub's report to the issuer: "this database runs here", signed with the contract code.

``POST /iot/hub/report`` with ``{"params": {"db_uuid", "fingerprint", "reported_at",
"signature"}}``, sent by the hub at start and daily. ``fingerprint`` is a random id made once
per hub installation (32 lower-case hex characters, kept in the hub's data directory), so two
installations that share one database UUID (a copy that was not neutralized) tell themselves
apart. Answer: ``{"result": {"accepted": true, "duplicate": bool}}``; a bad signature or an
unknown database is a 403 with the error body of :mod:`boxcert.wire.errors`.

The signature: the hub and the issuer both derive the **report key** from the contract code,

    report_key = HKDF-SHA256(ikm = contract code, salt = b"boxcert hub report", info = b"v1")

(32 bytes), and the signature is base64url(HMAC-SHA256(report_key, message)) over
``"boxcert-hub-report-v1\\n<db_uuid>\\n<fingerprint>\\n<reported_at>"``. The issuer keeps only
keyed hashes of contract codes, so it cannot derive the key at report time: it derives it when
it sees a code (a subscription is added, or a box sends the code with a request) and keeps it
sealed under its installation key. ``reported_at`` must be within :data:`MAX_SKEW` of the
issuer's clock and later than the installation's previous report, so a captured report cannot
be replayed. The code itself never travels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from boxcert.wire.text import is_clean_text
from boxcert.wire.x509 import MAX_FIELD_CHARS, WireError, canonical_uuid, parse_timestamp

HUB_REPORT_PATH = "/iot/hub/report"
MAX_SKEW = timedelta(minutes=10)
FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")
_SALT = b"boxcert hub report"
_INFO = b"v1"


def report_key(contract_code: str) -> bytes:
    """The key a hub signs its reports with, derived from the contract code."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        contract_code.strip().encode("utf-8")
    )


def _message(db_uuid: str, fingerprint: str, reported_at: str) -> bytes:
    return f"boxcert-hub-report-v1\n{db_uuid}\n{fingerprint}\n{reported_at}".encode()


def _sign(key: bytes, db_uuid: str, fingerprint: str, reported_at: str) -> str:
    digest = hmac.new(key, _message(db_uuid, fingerprint, reported_at), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class HubReport:
    db_uuid: str
    fingerprint: str
    reported_at: str  # ISO 8601 with an offset, signed as sent
    signature: str

    @classmethod
    def signed(cls, contract_code: str, db_uuid: str, fingerprint: str, now: datetime) -> HubReport:
        db_uuid = canonical_uuid(db_uuid)
        at = now.isoformat()  # to the microsecond: two reports in one second both count
        return cls(
            db_uuid, fingerprint, at, _sign(report_key(contract_code), db_uuid, fingerprint, at)
        )

    @property
    def reported(self) -> datetime:
        parsed = parse_timestamp(self.reported_at)
        assert parsed is not None  # checked by from_json
        return parsed

    def verify(self, key: bytes) -> bool:
        expected = _sign(key, self.db_uuid, self.fingerprint, self.reported_at)
        return hmac.compare_digest(expected.encode(), self.signature.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "params": {
                "db_uuid": self.db_uuid,
                "fingerprint": self.fingerprint,
                "reported_at": self.reported_at,
                "signature": self.signature,
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> HubReport:
        if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
            raise WireError('the body must be a JSON object with a "params" object')
        params = body["params"]
        fields: dict[str, str] = {}
        for key in ("db_uuid", "fingerprint", "reported_at", "signature"):
            value = params.get(key)
            if not isinstance(value, str) or not value:
                raise WireError(f'"params.{key}" must be a non-empty string')
            if len(value) > MAX_FIELD_CHARS or not is_clean_text(value):
                raise WireError(f'"params.{key}" is too long or holds control characters')
            fields[key] = value
        if not FINGERPRINT.match(fields["fingerprint"]):
            raise WireError('"params.fingerprint" must be 32 lower-case hex characters')
        if parse_timestamp(fields["reported_at"]) is None or "T" not in fields["reported_at"]:
            raise WireError('"params.reported_at" must be an ISO 8601 time with an offset')
        if canonical_uuid(fields["db_uuid"]) != fields["db_uuid"]:
            raise WireError('"params.db_uuid" must be in canonical form (trimmed, lower case)')
        return cls(
            fields["db_uuid"], fields["fingerprint"], fields["reported_at"], fields["signature"]
        )


@dataclass(frozen=True, slots=True)
class HubReportAnswer:
    accepted: bool
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        return {"result": {"accepted": self.accepted, "duplicate": self.duplicate}}

    @classmethod
    def from_json(cls, body: Any) -> HubReportAnswer:
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict) or not isinstance(result.get("accepted"), bool):
            raise WireError('the answer has no "result.accepted"')
        return cls(result["accepted"], result.get("duplicate") is True)
