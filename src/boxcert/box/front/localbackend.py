"""A :class:`~boxcert.box.front.backend.FrontBackend` kept in one directory, for the tests, the
demo and the benchmarks until the real agent is connected.

Credentials live in ``credentials.json`` (0600); the pair is ``key.pem`` + ``cert.pem``; the
status is whatever :meth:`LocalBackend.set_status` was last given, or, by default, what a small
file check finds (a real certificate is OK, none or a self-signed one needs a refresh). Checks
run in a background thread, debounced by :func:`check_due` as the real agent must be.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from boxcert import pki, renewal
from boxcert.box.front.backend import (
    CertificateView,
    CertState,
    Credentials,
    CredentialsError,
    StatusView,
    Unsubscribe,
)
from boxcert.clock import Clock, system_clock

CHECK_INTERVAL = timedelta(seconds=60)
FORCED_CHECK_INTERVAL = timedelta(seconds=5)
MAX_FIELD = 256


def check_due(
    now: datetime,
    last_started: datetime | None,
    running: bool,
    *,
    force: bool,
    interval: timedelta = CHECK_INTERVAL,
    forced_interval: timedelta = FORCED_CHECK_INTERVAL,
) -> bool:
    """May a new check start now? Never while one runs; else at most one per ``interval``, or
    per ``forced_interval`` when a person pressed Refresh."""
    if running:
        return False
    if last_started is None:
        return True
    return now - last_started >= (forced_interval if force else interval)


def status_json(view: StatusView) -> dict[str, Any]:
    """The ``box status --json`` shape for a view (no secrets)."""
    cert = view.certificate
    return {
        "status": view.state.value,
        "error_code": view.shown_code,
        "refusal": view.refusal,
        "detail": view.detail,
        "url": view.url,
        "certificate": None
        if cert is None
        else {
            "subject_cn": cert.subject,
            "sans": list(cert.names),
            "issuer": cert.issuer,
            "not_before": cert.valid_from.isoformat(),
            "not_after": cert.valid_until.isoformat(),
            "fingerprint_sha256": cert.fingerprint_sha256,
            "renew_at": cert.renew_at.isoformat() if cert.renew_at else None,
        },
    }


def certificate_view(cert_path: Path) -> CertificateView | None:
    """The installed leaf as the homepage shows it; None when absent or unreadable."""
    try:
        leaf = pki.load_chain(cert_path.read_bytes())[0]
        decision = renewal.renewal_decision(
            leaf.not_valid_before_utc, leaf.not_valid_after_utc, leaf.not_valid_before_utc
        )
        return CertificateView(
            subject=pki.common_name(leaf.subject),
            names=tuple(pki.dns_names(leaf)),
            issuer=pki.common_name(leaf.issuer) or leaf.issuer.rfc4514_string(),
            valid_from=leaf.not_valid_before_utc,
            valid_until=leaf.not_valid_after_utc,
            fingerprint_sha256=pki.fingerprint_sha256(leaf),
            renew_at=decision.renew_at,
        )
    except (OSError, ValueError):
        return None


class LocalBackend:
    def __init__(
        self,
        home: Path,
        *,
        url: str = "",
        clock: Clock = system_clock,
        check: Callable[[LocalBackend], StatusView] | None = None,
    ) -> None:
        self.home = home
        self.url = url
        self.clock = clock
        self._check = check or file_check
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._status: StatusView | None = None
        self._running = False
        self._last_started: datetime | None = None
        self.checks_started = 0
        home.mkdir(parents=True, exist_ok=True)

    # --- the pair -----------------------------------------------------------------------------

    def pair_paths(self) -> tuple[Path, Path]:
        return self.home / "key.pem", self.home / "cert.pem"

    def install(self, key_pem: bytes, chain_pem: bytes) -> None:
        """Install a pair as the agent does (key first, each file in one rename), then tell
        the subscribers."""
        key_path, cert_path = self.pair_paths()
        pki.atomic_write(key_path, key_pem, 0o600)
        pki.atomic_write(cert_path, chain_pem, 0o644)
        with self._lock:
            if self._check is file_check:
                self._status = None  # as the agent does: a new pair, a new verdict
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def subscribe_installed(self, listener: Callable[[], None]) -> Unsubscribe:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # --- status and checks --------------------------------------------------------------------

    def set_status(self, view: StatusView) -> None:
        with self._lock:
            self._status = view

    def status(self) -> StatusView:
        with self._lock:
            view, running = self._status, self._running
        if view is None:
            view = file_check(self)
        view = replace(view, checking=running)
        return replace(view, json={**status_json(view), **dict(view.json)})

    def request_check(self, *, force: bool = False) -> bool:
        with self._lock:
            if self._running:
                return True
            if not check_due(self.clock(), self._last_started, False, force=force):
                return False
            self._running = True
            self._last_started = self.clock()
            self.checks_started += 1
        threading.Thread(target=self._run_check, name="box-check", daemon=True).start()
        return True

    def _run_check(self) -> None:
        try:
            view = self._check(self)
        finally:
            with self._lock:
                self._running = False
        self.set_status(replace(view, checked_at=self.clock()))

    # --- credentials --------------------------------------------------------------------------

    @property
    def _credentials_file(self) -> Path:
        return self.home / "credentials.json"

    def credentials(self) -> Credentials:
        try:
            raw = json.loads(self._credentials_file.read_text())
            return Credentials(**{k: str(raw.get(k, "")) for k in asdict(Credentials())})
        except (OSError, ValueError, TypeError):
            return Credentials()

    def save_credentials(self, credentials: Credentials) -> None:
        for name, value in asdict(credentials).items():
            if len(value) > MAX_FIELD:
                raise CredentialsError(f"the {name.replace('_', ' ')} is too long")
            if any(ord(ch) < 32 for ch in value):
                raise CredentialsError(f"the {name.replace('_', ' ')} has control characters")
        server = credentials.server
        if server and not server.startswith(("http://", "https://")):
            raise CredentialsError("the server URL must start with http:// or https://")
        data = json.dumps(asdict(credentials), indent=2).encode() + b"\n"
        pki.atomic_write(self._credentials_file, data, 0o600)


def file_check(backend: LocalBackend) -> StatusView:
    """OK for a real certificate whose names include the URL's host; else a refresh is due."""
    _, cert_path = backend.pair_paths()
    view = certificate_view(cert_path)
    if view is None:
        return StatusView(
            CertState.NEED_REFRESH, "No certificate is installed yet.", url=backend.url
        )
    if view.subject.startswith("boxcert placeholder") or view.issuer == view.subject:
        return StatusView(
            CertState.NEED_REFRESH,
            "Only a self-signed placeholder is installed.",
            certificate=view,
            url=backend.url,
        )
    now = backend.clock()
    if not view.valid_from <= now < view.valid_until:
        return StatusView(
            CertState.NEED_REFRESH,
            "The certificate is outside its validity.",
            certificate=view,
            url=backend.url,
        )
    return StatusView(
        CertState.OK, f"Valid until {view.valid_until:%Y-%m-%d}.", certificate=view, url=backend.url
    )
