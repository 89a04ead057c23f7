"""The box's certificate status: one enum, one report shape, used by CLI and homepage."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from boxcert.codes import ErrorCode


class CertStatus(enum.StrEnum):
    OK = "ok"
    NEED_REFRESH = "need_refresh"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject_cn: str
    sans: list[str]
    issuer: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    url: str


@dataclass(frozen=True, slots=True)
class StatusReport:
    status: CertStatus
    error: ErrorCode | None
    detail: str
    certificate: CertificateInfo | None
    error_suffix: str = ""  # e.g. the HTTP status after ERR_IOT_HTTPS_LOAD_REQUEST_STATUS

    @property
    def error_code(self) -> str | None:
        if self.error is None:
            return None
        return f"{self.error.code} {self.error_suffix}".strip()

    def to_json(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "status": self.status.value,
            "error_code": self.error_code,
            "detail": self.detail,
            "certificate": None
            if cert is None
            else {
                "subject_cn": cert.subject_cn,
                "sans": cert.sans,
                "issuer": cert.issuer,
                "not_before": cert.not_before,
                "not_after": cert.not_after,
                "fingerprint_sha256": cert.fingerprint_sha256,
                "url": cert.url,
            },
        }
