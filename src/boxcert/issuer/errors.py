"""Issuer exceptions. Everything the issuer raises on purpose derives from IssuerError.

IssuerError
├── BadRequest          the request is malformed (HTTP 400)
├── Refusal             the box is not entitled; an answer, not a failure (HTTP 200)
├── CertificateAuthorityError   the CA backend failed (a refusal that says so)
│   └── RateLimited     the CA said "not now"; carries retry_after
├── LockTimeout         another issuer held a holder's lock for too long
└── StoreError          an administrative change the store refuses
    ├── NotFound
    ├── AlreadyExists
    ├── InvalidValue
    └── InUse           a removal refused while something still depends on it
        └── StillValid  ... valid certificates of what would be removed
"""

from __future__ import annotations

from datetime import datetime

from boxcert.wire import RefusalCode


class IssuerError(Exception):
    """Root of the issuer's exceptions."""


class BadRequest(IssuerError):
    """The request cannot be understood; the message says why."""


class Refusal(IssuerError):
    """The issuer will not deliver a certificate, for a reason the box may show."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CertificateAuthorityError(IssuerError):
    """The certificate authority could not issue."""


class RateLimited(CertificateAuthorityError):
    def __init__(self, message: str, retry_after: datetime | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockTimeout(IssuerError):
    """A lock stayed taken past the caller's patience."""


class StoreError(IssuerError):
    """The store refuses an administrative change; the message says why."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidValue(StoreError):
    pass


class InUse(StoreError):
    """A removal refused while something still depends on what it would remove."""


class StillValid(InUse):
    """What would be removed still has certificates that are neither revoked nor expired."""

    def __init__(self, message: str, serials: tuple[str, ...], names: tuple[str, ...]) -> None:
        super().__init__(message)
        self.serials = serials
        self.names = names  # the base name (label.zone) of each, for `issuer revoke --domain`
