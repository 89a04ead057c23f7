"""Every error the box agent raises, under one root.

::

    BoxError                 anything the box reports instead of crashing
    ├── ConfigError          config.json cannot be used; names each bad field
    ├── BoxFileError         a file under the box's home is damaged or unusable (path + reason)
    ├── BusyError            another check holds the box's lock ("a check is running")
    └── LoadError            obtaining a certificate failed: an error code the box shows,
                             a printable detail, the code's suffix, a known refusal if any,
                             the advice that fits the cause, and the kind of network failure

Library errors (OSError, httpcore's, cryptography's) are translated where they happen, with
``raise … from err`` so the box log keeps the original.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING

from boxcert import codes
from boxcert.wire import RefusalCode

if TYPE_CHECKING:
    from boxcert.box.advice import Advice


class FailureKind(enum.StrEnum):
    """What stopped an exchange with a server, as far as the box can tell."""

    NETWORK = "network"  # no connection, reset, proxy, a URL httpcore cannot use
    TIMEOUT = "timeout"
    TLS_DATES = "tls_dates"  # the peer's certificate is expired or not yet valid *to this box*
    TLS_UNTRUSTED = "tls_untrusted"  # it chains to no root this box trusts
    TLS_NAME = "tls_name"  # it is not for the host asked
    TLS_OTHER = "tls_other"


class BoxError(Exception):
    """Root of the box agent's errors; ``str()`` is one line fit to show."""


class ConfigError(BoxError):
    """``config.json`` holds values the box cannot use; ``problems`` maps field → what is wrong.

    An empty field name stands for the file as a whole (unreadable, not a JSON object).
    """

    def __init__(self, problems: dict[str, str], source: str = "config.json") -> None:
        self.problems = dict(problems)
        self.source = source
        parts = [f"{name}: {why}" if name else why for name, why in self.problems.items()]
        super().__init__(f"{source}: " + "; ".join(parts))

    @property
    def field(self) -> str:
        """The first bad field ("" for the file as a whole)."""
        return next(iter(self.problems), "")


class BoxFileError(BoxError):
    """A file under the box's home cannot be read or written as it must be."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} {reason}")


class BusyError(BoxError):
    """Another check of this box is running (it holds the lock)."""

    def __init__(self, message: str = "a check is running; try again when it has finished") -> None:
        super().__init__(message)


class LoadError(BoxError):
    """Loading a certificate failed with a code the box shows; ``detail`` is safe to show."""

    def __init__(
        self,
        code: codes.ErrorCode,
        detail: str,
        suffix: str = "",
        refusal: RefusalCode | None = None,
        *,
        advice: Advice | None = None,
        failure: FailureKind | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.suffix = suffix
        self.refusal = refusal
        self.advice = advice
        self.failure = failure  # set when no answer came back
