"""The box-issuer exchange, typed in one place.

``POST /iot/x509`` (alias ``/odoo-enterprise/iot/x509``) with a JSON body
``{"params": {"db_uuid", "enterprise_code", "identifier"?, "csr"?}}``. The answer is always
``{"result": …}``: either a grant (``x509_pem``, ``subject_cn``, ``domain``, ``not_after``, and
``private_key_pem`` only when no CSR was sent) or ``{"error": {"code", "message"}}``. This is the
shape existing boxes of the original vendor speak, so they work against our issuer unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

X509_PATHS = ("/iot/x509", "/odoo-enterprise/iot/x509")
MAX_BODY_BYTES = 64 * 1024


class WireError(ValueError):
    """A message does not have the exchange's shape; the text says what is wrong."""


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
            if len(value) > (16384 if key == "csr" else 256):
                raise WireError(f'"params.{key}" is too long')
            if not _printable(value, allow_newlines=key == "csr"):
                raise WireError(f'"params.{key}" holds control or invalid characters')
            if key == "csr" and not value.strip():
                raise WireError('"params.csr" is empty; leave it out to ask without a CSR')
            fields[key] = value
        return cls(
            db_uuid=(fields["db_uuid"] or "").strip(),
            enterprise_code=(fields["enterprise_code"] or "").strip(),
            identifier=(fields["identifier"] or "").strip(),
            csr_pem=fields["csr"],
        )


def _printable(text: str, *, allow_newlines: bool) -> bool:
    """No NUL, control characters or lone surrogates: they break storage and encodings."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    allowed = "\r\n" if allow_newlines else ""
    return not any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text)


@dataclass(frozen=True, slots=True)
class Grant:
    x509_pem: str
    subject_cn: str
    domain: str
    not_after: datetime
    private_key_pem: str | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "x509_pem": self.x509_pem,
            "subject_cn": self.subject_cn,
            "domain": self.domain,
            "not_after": self.not_after.isoformat(),
        }
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
    """Read the issuer's answer; None when there is no usable result at all."""
    if not isinstance(body, dict):
        return None
    result = body.get("result")
    if not isinstance(result, dict) or not result:
        return None
    error = result.get("error")
    if error is not None:
        if isinstance(error, dict):
            return RefusalAnswer(str(error.get("code", "unknown")), str(error.get("message", "")))
        return RefusalAnswer("unknown", str(error))
    pem = result.get("x509_pem")
    if not isinstance(pem, str) or not pem.strip():
        return None
    not_after_raw = result.get("not_after")
    try:
        not_after = datetime.fromisoformat(str(not_after_raw)) if not_after_raw else None
    except ValueError:
        not_after = None
    key = result.get("private_key_pem")
    return Grant(
        x509_pem=pem,
        subject_cn=str(result.get("subject_cn", "")),
        domain=str(result.get("domain", "")),
        not_after=not_after or datetime.min,
        private_key_pem=key if isinstance(key, str) else None,
    )
