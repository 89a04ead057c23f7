"""The box⇄issuer exchange: ``POST /iot/x509`` (alias ``/odoo-enterprise/iot/x509``).

Request: ``{"params": {"db_uuid", "enterprise_code", "identifier"?, "csr"?}}``. Answer, always
HTTP 200 with ``{"result": …}``: a grant (``x509_pem``, ``subject_cn``, ``domain``,
``not_after``, and ``private_key_pem`` only when no CSR was sent) or a refusal
``{"error": {"code", "message"}}`` (codes in :mod:`boxcert.wire.refusals`). This is the shape
existing boxes of the original vendor speak, so they work against our issuer unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boxcert.wire.text import is_clean_text, printable

X509_PATH = "/iot/x509"
X509_PATHS = (X509_PATH, "/odoo-enterprise/iot/x509")
MAX_BODY_BYTES = 64 * 1024
MAX_CSR_CHARS = 16384
MAX_FIELD_CHARS = 256


class WireError(ValueError):
    """A message does not have the exchange's shape; the text says what is wrong."""


def canonical_uuid(text: str) -> str:
    """The one form a database UUID is compared and stored in: trimmed, lower case.

    Case variants of one UUID are the same database everywhere (labels, lookups, storage).
    """
    return text.strip().lower()


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when it carries no offset); None when
    absent or unreadable."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    db_uuid: str
    enterprise_code: str
    identifier: str = ""
    csr_pem: str | None = None

    def to_json(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "db_uuid": self.db_uuid,
            "enterprise_code": self.enterprise_code,
            "identifier": self.identifier,
        }
        if self.csr_pem is not None:
            params["csr"] = self.csr_pem
        return {"params": params}

    @classmethod
    def from_json(cls, body: Any) -> CertificateRequest:
        """Read a request body; WireError says what is wrong. The uuid comes out canonical."""
        if not isinstance(body, dict):
            raise WireError("the body must be a JSON object")
        params = body.get("params")
        if not isinstance(params, dict):
            raise WireError('the body must have a "params" object')
        fields: dict[str, str | None] = {}
        for key, required in (
            ("db_uuid", True),
            ("enterprise_code", True),
            ("identifier", False),
            ("csr", False),
        ):
            value = params.get(key)
            if value is None:
                if required:
                    raise WireError(f'"params.{key}" is missing')
                fields[key] = None
                continue
            if not isinstance(value, str):
                raise WireError(f'"params.{key}" must be a string')
            if len(value) > (MAX_CSR_CHARS if key == "csr" else MAX_FIELD_CHARS):
                raise WireError(f'"params.{key}" is too long')
            if not is_clean_text(value, allow_newlines=key == "csr"):
                raise WireError(f'"params.{key}" holds control or invalid characters')
            if key == "csr" and not value.strip():
                raise WireError('"params.csr" is empty; leave it out to ask without a CSR')
            fields[key] = value
        return cls(
            db_uuid=canonical_uuid(fields["db_uuid"] or ""),
            enterprise_code=(fields["enterprise_code"] or "").strip(),
            identifier=(fields["identifier"] or "").strip(),
            csr_pem=fields["csr"],
        )


@dataclass(frozen=True, slots=True)
class Grant:
    x509_pem: str
    subject_cn: str
    domain: str
    not_after: datetime | None
    private_key_pem: str | None = None

    def __post_init__(self) -> None:
        if self.not_after is not None and self.not_after.tzinfo is None:
            raise ValueError("Grant.not_after must be an aware datetime")

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "x509_pem": self.x509_pem,
            "subject_cn": self.subject_cn,
            "domain": self.domain,
        }
        if self.not_after is not None:
            result["not_after"] = self.not_after.isoformat()
        if self.private_key_pem is not None:
            result["private_key_pem"] = self.private_key_pem
        return {"result": result}


@dataclass(frozen=True, slots=True)
class RefusalAnswer:
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"result": {"error": {"code": self.code, "message": self.message}}}


def parse_answer(body: Any) -> Grant | RefusalAnswer | None:
    """Read the issuer's answer; None when there is no usable result at all.

    Text fields of a refusal come out printable (see :func:`boxcert.wire.text.printable`).
    """
    if not isinstance(body, dict):
        return None
    result = body.get("result")
    if not isinstance(result, dict) or not result:
        return None
    error = result.get("error")
    if error is not None:
        if isinstance(error, dict):
            return RefusalAnswer(
                printable(error.get("code", "unknown"), 64), printable(error.get("message", ""))
            )
        return RefusalAnswer("unknown", printable(error))
    pem = result.get("x509_pem")
    if not isinstance(pem, str) or not pem.strip():
        return None
    key = result.get("private_key_pem")
    return Grant(
        x509_pem=pem,
        subject_cn=printable(result.get("subject_cn", ""), 255),
        domain=printable(result.get("domain", ""), 255),
        not_after=parse_timestamp(result.get("not_after")),
        private_key_pem=key if isinstance(key, str) else None,
    )
