"""The body of every non-200 answer of our HTTP services: ``{"error": {"code", "message"}}``.

Built by the services (issuer, hub, box front) and read by their clients, here and nowhere else.
A refusal of a certificate is not an error: it is a 200 answer (:mod:`boxcert.wire.x509`).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from boxcert.wire.text import printable


class HttpErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    TOO_MANY_REQUESTS = "too_many_requests"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    HTTP_ERROR = "http_error"

    @classmethod
    def for_status(cls, status: int) -> HttpErrorCode:
        return _BY_STATUS.get(status, cls.HTTP_ERROR)


_BY_STATUS = {
    400: HttpErrorCode.BAD_REQUEST,
    401: HttpErrorCode.UNAUTHORIZED,
    403: HttpErrorCode.FORBIDDEN,
    404: HttpErrorCode.NOT_FOUND,
    405: HttpErrorCode.METHOD_NOT_ALLOWED,
    408: HttpErrorCode.TIMEOUT,
    409: HttpErrorCode.CONFLICT,
    413: HttpErrorCode.TOO_LARGE,
    429: HttpErrorCode.TOO_MANY_REQUESTS,
    500: HttpErrorCode.INTERNAL_ERROR,
    503: HttpErrorCode.UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    @classmethod
    def parse(cls, content: bytes) -> ErrorBody | None:
        """The error in an answer's body, made printable; None when the body has none."""
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        return cls(printable(error.get("code", ""), 64), printable(error.get("message", "")))
