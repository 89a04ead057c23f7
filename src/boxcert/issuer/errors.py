"""Issuer exceptions. Everything the issuer raises on purpose derives from IssuerError.

    IssuerError
    ├── BadRequest          the request is malformed (HTTP 400)
    ├── Refusal             the box is not entitled; an answer, not a failure (HTTP 200)
    └── CertificateAuthorityError   the CA backend failed (a refusal that says so)
        └── RateLimited     the CA or our own cap said "not now"; carries retry_after
"""

from __future__ import annotations

from datetime import datetime


class IssuerError(Exception):
    """Root of the issuer's exceptions."""


class BadRequest(IssuerError):
    """The request cannot be understood; the message says why."""


class Refusal(IssuerError):
    """The issuer will not deliver a certificate, for a reason the box may show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CertificateAuthorityError(IssuerError):
    """The certificate authority could not issue."""


class RateLimited(CertificateAuthorityError):
    def __init__(self, message: str, retry_after: datetime | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
