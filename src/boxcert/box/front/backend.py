"""The seam between the box's front (HTTPS server, homepage, nginx site) and the box agent.

The front never reads the agent's files or calls its internals: everything it needs comes
through :class:`FrontBackend`, a small protocol the agent (or, in tests and the demo,
:class:`~boxcert.box.front.localbackend.LocalBackend`) provides. What an implementation must do:

- :meth:`~FrontBackend.status` answers at once (no network, no lock held by a running check):
  the last verdict as a :class:`StatusView`, whose ``json`` is exactly the ``box status --json``
  object (no secrets; the front serves it as ``/status.json``).
- :meth:`~FrontBackend.request_check` never blocks. It asks for a check (and a load when the
  check says so) in the background, debounced by the implementation: however often it is
  called, at most one issuer request per interval and never two at once. ``force`` (the
  homepage's Refresh button) skips the interval but still never starts a second check. It
  returns True when a check is running or was started, so the page can say so.
- :meth:`~FrontBackend.pair_paths` names the key and the certificate chain (leaf first) the
  agent installs. The front reads them itself, so the files must be replaced atomically (key
  first when both change); a missing or unusable pair makes the front serve its placeholder.
- :meth:`~FrontBackend.subscribe_installed` calls ``listener()`` after every newly installed
  pair, from any thread; the listener is quick and thread-safe. It returns an unsubscribe
  function.
- :meth:`~FrontBackend.credentials` and :meth:`~FrontBackend.save_credentials` read and store
  the server URL, database UUID and contract code. Saving validates and raises
  :class:`CredentialsError` with one line to show; a saved change should trigger a check.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from boxcert.codes import ErrorCode


class CertState(enum.StrEnum):
    """The verdict on the box's certificate, as the agent's check gives it."""

    OK = "ok"
    NEED_REFRESH = "need_refresh"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CertificateView:
    """The installed leaf, as the homepage shows it. Datetimes are aware (UTC)."""

    subject: str
    names: tuple[str, ...]
    issuer: str
    valid_from: datetime
    valid_until: datetime
    fingerprint_sha256: str
    renew_at: datetime | None = None  # when the agent plans to renew; None when unknown


@dataclass(frozen=True, slots=True)
class StatusView:
    """What the agent last found. ``url`` is the box's HTTPS address by name (empty while the
    box has no key); ``json`` is the ``box status --json`` object for the same state."""

    state: CertState
    detail: str
    error: ErrorCode | None = None
    error_suffix: str = ""  # e.g. "404" after ERR_IOT_HTTPS_LOAD_REQUEST_STATUS
    refusal: str | None = None  # the issuer's refusal code (boxcert.wire.refusals), if any
    certificate: CertificateView | None = None
    url: str = ""
    checking: bool = False
    checked_at: datetime | None = None
    json: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shown_code(self) -> str | None:
        """The code as shown to people: the table's code, then its suffix if any."""
        if self.error is None:
            return None
        return f"{self.error.code} {self.error_suffix}".strip()


@dataclass(frozen=True, slots=True)
class Credentials:
    """What ties the box to its customer. ``contract_code`` is a secret: never shown whole."""

    server: str = ""
    db_uuid: str = ""
    contract_code: str = ""


class CredentialsError(ValueError):
    """Credentials the backend refuses to save; the message names the field and is safe to
    show (it never repeats the contract code)."""


Unsubscribe = Callable[[], None]


class FrontBackend(Protocol):
    """What the front needs from the box agent; see the module docstring for the contract."""

    def status(self) -> StatusView: ...

    def request_check(self, *, force: bool = False) -> bool: ...

    def pair_paths(self) -> tuple[Path, Path]:
        """(key, certificate chain)."""
        ...

    def subscribe_installed(self, listener: Callable[[], None]) -> Unsubscribe: ...

    def credentials(self) -> Credentials: ...

    def save_credentials(self, credentials: Credentials) -> None: ...
