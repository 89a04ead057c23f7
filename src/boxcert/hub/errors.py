"""Hub exceptions. Everything the hub raises on purpose derives from HubError.

    HubError
    ├── PairingRefused     a token is unknown, used or expired, or the hub is not configured
    ├── BoxRefused         a report's box secret is unknown (401) or not this box's (403)
    └── UnknownBox         no box with this identifier (404)

The HTTP boundary (``hub/app.py``) and the CLI translate these, and nothing else, into answers.
"""

from __future__ import annotations

from boxcert.wire.hub import PairingRefusal


class HubError(Exception):
    """Root of the hub's exceptions; the message is one line to show."""


class PairingRefused(HubError):
    def __init__(self, refusal: PairingRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class BoxRefused(HubError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UnknownBox(HubError):
    pass
