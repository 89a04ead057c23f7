"""The seam between the box's front (HTTPS server, homepage, nginx site) and the box agent.

The front never reads the agent's files or calls its internals: everything it needs comes
through :class:`FrontBackend`, which :class:`AgentBackend` implements over a
:class:`~boxcert.box.agent.BoxAgent`. What an implementation must do:

- :meth:`~FrontBackend.status` answers at once (no network, no lock held by a running check):
  the agent's last verdict, the hub link, and whether a check is running.
- :meth:`~FrontBackend.request_check` never blocks. It asks for a check (and a load when the
  check says so) in the background, debounced: however often it is called, at most one request
  per :data:`CHECK_INTERVAL` and never one while a check runs. ``force`` (the homepage's Refresh
  button) waits only :data:`FORCED_CHECK_INTERVAL`. It returns True when a check is running or
  was asked for, so the page can say so.
- :meth:`~FrontBackend.pair_paths` names the key and the certificate chain (leaf first) the
  agent installs (replaced atomically as one pair); a missing or unusable pair makes the front
  serve its placeholder.
- :meth:`~FrontBackend.subscribe_installed` calls ``listener()`` after every newly installed
  pair, from the agent's thread; the listener is quick and thread-safe.
- :meth:`~FrontBackend.credentials` / :meth:`~FrontBackend.save_credentials` read and store the
  server URL, database UUID and contract code; saving validates (:class:`CredentialsError`, one
  line that never repeats the contract code) and makes the agent check again at once.
- :meth:`~FrontBackend.pair` pairs the box with a hub by token, as ``boxcert box connect``
  does (:class:`~boxcert.box.hubclient.PairingError` with one line when it did not happen).
- :meth:`~FrontBackend.dns` answers at once with the box's last DNS diagnosis
  (:class:`~boxcert.box.dnscheck.DnsView`); with ``refresh`` a stale one is looked up again in
  the background, debounced (:class:`~boxcert.box.dnscheck.DnsWatch`).
- :meth:`~FrontBackend.metrics` is the Prometheus exposition of the box's metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig
from boxcert.box.dnscheck import DnsView, DnsWatch
from boxcert.box.errors import BoxError, ConfigError
from boxcert.box.hublink import (
    HubLink,
    ReportLog,
    link_of,
    load_log,
    status_document,
)
from boxcert.box.status import BoxEvent, BoxStatus, Installed
from boxcert.clock import Clock, system_clock

CHECK_INTERVAL = timedelta(seconds=60)
FORCED_CHECK_INTERVAL = timedelta(seconds=5)
_FIELDS = {"server": "server", "db_uuid": "db_uuid", "contract_code": "enterprise_code"}
_LABELS = {"server": "server URL", "db_uuid": "database UUID", "enterprise_code": "contract code"}


def check_due(
    now: datetime,
    last_requested: datetime | None,
    running: bool,
    *,
    force: bool,
    interval: timedelta = CHECK_INTERVAL,
    forced_interval: timedelta = FORCED_CHECK_INTERVAL,
) -> bool:
    """May a new check be asked for now? Never while one runs; else at most one per
    ``interval``, or per ``forced_interval`` when a person pressed Refresh."""
    if running:
        return False
    if last_requested is None:
        return True
    return now - last_requested >= (forced_interval if force else interval)


@dataclass(frozen=True, slots=True)
class FrontStatus:
    """What the front shows: the agent's status, the hub link, a check running."""

    box: BoxStatus
    hub: HubLink
    checking: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``box status --json`` object (no secrets)."""
        return status_document(self.box, self.hub)


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

    def status(self) -> FrontStatus: ...

    def request_check(self, *, force: bool = False) -> bool: ...

    def pair_paths(self) -> tuple[Path, Path]:
        """(key, certificate chain)."""
        ...

    def subscribe_installed(self, listener: Callable[[], None]) -> Unsubscribe: ...

    def credentials(self) -> Credentials: ...

    def save_credentials(self, credentials: Credentials) -> None: ...

    def pair(self, token: str) -> None: ...

    def dns(self, *, refresh: bool = True) -> DnsView: ...

    def metrics(self) -> bytes: ...


class AgentBackend:
    """:class:`FrontBackend` over the box agent of this process (whose loop runs elsewhere,
    in ``boxcert box run``'s agent thread)."""

    def __init__(self, agent: BoxAgent, *, clock: Clock = system_clock) -> None:
        from boxcert.box.metrics import BoxMetrics

        self.agent = agent
        self.clock = clock
        if not isinstance(agent.observer, BoxMetrics):  # the front serves what the agent counts
            agent.observer = BoxMetrics(agent.holder, clock)
        self._metrics: BoxMetrics = agent.observer
        self.dns_watch = DnsWatch(agent.paths, clock=clock)
        self._lock = threading.Lock()
        self._last_requested: datetime | None = None
        self.requests_sent = 0  # checks asked of the agent (after the debounce)

    def status(self) -> FrontStatus:
        # The loop's last result (what the hub was told too); a first look when it has none.
        current = self.agent.holder.current or self.agent.status()
        try:
            link = link_of(self.agent.config(), load_log(self.agent.paths))
        except BoxError:
            link = link_of(BoxConfig(), ReportLog())
        return FrontStatus(current, link, self.agent.checking)

    def request_check(self, *, force: bool = False) -> bool:
        running = self.agent.checking
        with self._lock:
            if running:
                return True
            if not check_due(self.clock(), self._last_requested, False, force=force):
                return False
            self._last_requested = self.clock()
            self.requests_sent += 1
        self.agent.request_check()
        return True

    def pair_paths(self) -> tuple[Path, Path]:
        return self.agent.paths.key, self.agent.paths.cert

    def subscribe_installed(self, listener: Callable[[], None]) -> Unsubscribe:
        def on_event(event: BoxEvent) -> None:
            if isinstance(event, Installed):
                listener()

        return self.agent.holder.subscribe(on_event)

    def credentials(self) -> Credentials:
        try:
            config = self.agent.config()
        except BoxError:
            return Credentials()
        return Credentials(config.server, config.db_uuid, config.enterprise_code)

    def save_credentials(self, credentials: Credentials) -> None:
        changes = {_FIELDS[name]: value for name, value in asdict(credentials).items()}
        try:
            self.agent.configure(**changes)
        except ConfigError as err:
            raise CredentialsError(_explain(err)) from err
        except BoxError as err:
            raise CredentialsError(str(err)) from err

    def pair(self, token: str) -> None:
        self.agent.pair(token)  # BoxError: shown as it is

    def dns(self, *, refresh: bool = True) -> DnsView:
        return self.dns_watch.view(refresh=refresh)

    def metrics(self) -> bytes:
        return self._metrics.render()


def _explain(err: ConfigError) -> str:
    """One line per bad field, in the page's words (the values are never repeated but for a
    URL, which the visitor just typed)."""
    parts = [
        f"the {_LABELS.get(name, name.replace('_', ' '))} {why}" if name else why
        for name, why in err.problems.items()
    ]
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."
