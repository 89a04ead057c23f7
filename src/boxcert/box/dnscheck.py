"""The box's own DNS diagnosis: which name to look up, through which servers, and the
homepage's background watch.

:func:`target` gives the name the box is reached by (``<ip-label>.<label>.<zone>``, from its
key, its LAN address and its zone) and :func:`settings_of` the servers: the LAN resolver and the
zone's servers from the settings (``--lan-resolver``, ``--zone-dns``; options of ``box
diagnose`` win), else the system's resolver and an NS query. The lookups and the verdict are
:mod:`boxcert.box.diagnosis`'s.

:class:`DnsWatch` is what the homepage uses: :meth:`DnsWatch.view` answers at once with the
last result and, when it is stale, starts one lookup in a thread of its own — debounced like
the certificate check (at most one start per :data:`WATCH_INTERVAL`, never two at once), and
cached for the answers' TTL by :class:`~boxcert.box.diagnosis.dns_probe.CachedDiagnosis`. A
page never waits for DNS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from boxcert import codes, naming, pki
from boxcert.box import pair as pairs
from boxcert.box.config import BoxConfig, load_config
from boxcert.box.diagnosis.dns_probe import (
    CachedDiagnosis,
    DnsSettings,
    parse_server,
    run_diagnosis,
)
from boxcert.box.diagnosis.dns_verdict import DnsDiagnosis, Lookup, said
from boxcert.box.errors import BoxError
from boxcert.box.files import BoxPaths
from boxcert.box.identity import lan_address
from boxcert.box.issuerinfo import load_facts, zone_of
from boxcert.clock import Clock, system_clock

log = logging.getLogger(__name__)

WATCH_INTERVAL = timedelta(seconds=60)  # page loads start at most one lookup a minute
HELP_PATH = "/box/diagnosis/"


@dataclass(frozen=True, slots=True)
class Target:
    """The name to look up and the address it must give; the zone its texts name."""

    name: str
    expected: naming.IPAddress
    zone: str


def target(paths: BoxPaths, config: BoxConfig) -> Target | None:
    """The box's name by its LAN address; None before the box has a key (it has no name)."""
    try:
        key_pem = pairs.read_pair(paths).key_pem
        key = pairs.parse_key(key_pem) if key_pem is not None else None
    except (BoxError, pki.PemError):
        return None
    if key is None:
        return None
    zone = zone_of(config, load_facts(paths))
    label = naming.box_label(pki.spki_der(key.public_key()))
    address = lan_address(config)
    return Target(naming.host_name(address, label, zone), address, zone)


def settings_of(
    config: BoxConfig,
    zone: str,
    *,
    lan_resolver: str | None = None,
    zone_dns: Sequence[str] = (),
    timeout: float | None = None,
) -> DnsSettings:
    """The servers to ask: the options given, else the settings, else the system's."""
    lan_text = lan_resolver or config.lan_resolver
    servers = tuple(parse_server(s) for s in (zone_dns or config.zone_dns))
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return DnsSettings(
        zone, lan_resolver=parse_server(lan_text) if lan_text else None, zone_dns=servers, **extra
    )


def diagnose_now(paths: BoxPaths, config: BoxConfig, found: Target, **options: Any) -> DnsDiagnosis:
    """One diagnosis now (``box diagnose``); ValueError for a server option that is not one."""
    settings = settings_of(config, found.zone, **options)
    return run_diagnosis(settings, found.name, found.expected)


def help_url(diagnosis: DnsDiagnosis) -> str:
    return HELP_PATH + diagnosis.verdict.value


def _lookup_json(lookup: Lookup) -> dict[str, Any]:
    return {
        "server": lookup.server,
        "outcome": lookup.outcome.value,
        "addresses": list(lookup.addresses),
        "said": said(lookup),
    }


def to_json(diagnosis: DnsDiagnosis, zone: str) -> dict[str, Any]:
    """The ``box diagnose --json`` object."""
    finding = codes.DNS_FINDINGS[diagnosis.verdict.value]
    title, cause, remedy = finding.render(zone)
    return {
        "verdict": diagnosis.verdict.value,
        "ok": finding.ok,
        "title": title,
        "cause": cause,
        "remedy": remedy,
        "name": diagnosis.name,
        "expected": diagnosis.expected,
        "detail": diagnosis.detail,
        "lan": _lookup_json(diagnosis.lan),
        "zone": _lookup_json(diagnosis.zone),
        "help": help_url(diagnosis),
    }


@dataclass(frozen=True, slots=True)
class DnsView:
    """What the homepage's DNS row shows."""

    diagnosis: DnsDiagnosis | None  # None: not looked up yet (or the box has no name yet)
    zone: str
    running: bool  # a lookup is under way
    named: bool  # the box has a name (a key) to look up


class DnsWatch:
    """The homepage's DNS diagnosis, in the background (see the module docstring)."""

    def __init__(self, paths: BoxPaths, *, clock: Clock = system_clock) -> None:
        self.paths = paths
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: CachedDiagnosis | None = None
        self._settings: DnsSettings | None = None
        self._thread: threading.Thread | None = None
        self._started: datetime | None = None
        self.lookups_started = 0

    def view(self, *, refresh: bool = True) -> DnsView:
        """The last result at once; with ``refresh``, a lookup started when it is stale."""
        try:
            config = load_config(self.paths)
        except BoxError:
            return DnsView(None, "", False, False)
        found = target(self.paths, config)
        if found is None:
            return DnsView(None, zone_of(config, load_facts(self.paths)), False, False)
        try:
            cache = self._cache_for(settings_of(config, found.zone))
        except ValueError as err:  # a damaged server setting: the settings' own check says
            log.warning("DNS diagnosis settings unusable: %s", err)
            return DnsView(None, found.zone, False, True)
        last, fresh = cache.peek(found.name, found.expected)
        running = self._running()
        if refresh and not fresh and not running and self._due():
            running = self._start(cache, found)
        return DnsView(last, found.zone, running, True)

    def _cache_for(self, settings: DnsSettings) -> CachedDiagnosis:
        with self._lock:
            if self._cache is None or settings != self._settings:
                self._cache = CachedDiagnosis(settings, clock=self.clock)
                self._settings = settings
                self._started = None  # new settings: look at once
            return self._cache

    def _running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _due(self) -> bool:
        with self._lock:
            return self._started is None or self.clock() - self._started >= WATCH_INTERVAL

    def _start(self, cache: CachedDiagnosis, found: Target) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return True
            self._started = self.clock()
            self.lookups_started += 1
            self._thread = threading.Thread(
                target=self._lookup, args=(cache, found), name="box-dns-watch", daemon=True
            )
            self._thread.start()
            return True

    @staticmethod
    def _lookup(cache: CachedDiagnosis, found: Target) -> None:
        try:
            result = cache.get(found.name, found.expected)
            if result is not None:
                log.info("DNS diagnosis of %s: %s", found.name, result.verdict.value)
        except Exception:  # a thread of the page's: log it, the page shows the last result
            log.exception("DNS diagnosis failed unexpectedly")
