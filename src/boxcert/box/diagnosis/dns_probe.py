"""Looking up the box's own name: through the LAN's resolver and the zone's own servers.

Mechanism only; :func:`.dns_verdict.classify` decides. Queries are plain dnspython over UDP
(TCP when truncated) with a short timeout, so a dead resolver costs seconds, not minutes.
The LAN's resolver is the system's (``/etc/resolv.conf``) unless one is given; the zone's
servers are found by an NS query through that resolver unless given.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from boxcert.box.diagnosis.dns_verdict import DnsDiagnosis, Lookup, Outcome, classify
from boxcert.clock import Clock, system_clock
from boxcert.hostport import parse_host_port
from boxcert.naming import IPAddress

Server = tuple[str, int]
TIMEOUT = 2.0
MIN_CACHE = timedelta(seconds=30)  # even a 0-TTL answer is not asked again at once
MAX_CACHE = timedelta(minutes=10)


def show(server: Server) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def system_resolvers() -> list[Server]:
    """The resolvers this machine uses (``/etc/resolv.conf``), port 53."""
    try:
        return [(str(ns), 53) for ns in dns.resolver.Resolver().nameservers]
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []


def parse_server(text: str) -> Server:
    """``HOST[:PORT]`` (IPv6 in brackets) with port 53 by default; ValueError otherwise."""
    host, port = parse_host_port(text, 53)
    ipaddress.ip_address(host)  # resolvers are given by address: no name to resolve first
    return host, port


def lookup(
    server: Server,
    name: str,
    rdtype: dns.rdatatype.RdataType,
    *,
    recursive: bool,
    timeout: float = TIMEOUT,
) -> Lookup:
    """Ask ``server`` once for ``name``/``rdtype``."""
    query = dns.message.make_query(name, rdtype)
    if not recursive:
        query.flags &= ~dns.flags.RD
    try:
        response = dns.query.udp(query, server[0], port=server[1], timeout=timeout)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, server[0], port=server[1], timeout=timeout)
    except dns.exception.Timeout:
        return Lookup(show(server), Outcome.UNREACHABLE, error="timed out")
    except (OSError, dns.exception.DNSException) as err:
        return Lookup(show(server), Outcome.UNREACHABLE, error=str(err) or type(err).__name__)
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return Lookup(show(server), Outcome.NXDOMAIN, ttl=_negative_ttl(response))
    if rcode == dns.rcode.REFUSED:
        return Lookup(show(server), Outcome.REFUSED)
    if rcode != dns.rcode.NOERROR:
        return Lookup(show(server), Outcome.SERVFAIL, error=dns.rcode.to_text(rcode))
    found = [
        (str(r), rrset.ttl) for rrset in response.answer if rrset.rdtype == rdtype for r in rrset
    ]
    if not found:
        return Lookup(show(server), Outcome.NO_ADDRESS, ttl=_negative_ttl(response))
    return Lookup(
        show(server),
        Outcome.ADDRESSES,
        tuple(sorted({a for a, _ in found})),
        ttl=min(t for _, t in found),
    )


def _negative_ttl(response: dns.message.Message) -> int:
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(min(rrset.ttl, rrset[0].minimum))
    return 0


def zone_servers(zone: str, via: Server, timeout: float = TIMEOUT) -> list[Server]:
    """The zone's authoritative servers, found by asking ``via`` (a recursive resolver)."""
    servers: list[Server] = []
    ns = lookup(via, zone, dns.rdatatype.NS, recursive=True, timeout=timeout)
    if ns.outcome is not Outcome.ADDRESSES:
        return servers
    for host in ns.addresses:
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            found = lookup(via, host, rdtype, recursive=True, timeout=timeout)
            servers.extend((a, 53) for a in found.addresses)
    return servers


def diagnose(
    name: str,
    expected: IPAddress,
    lan: Server | None,
    zone: Sequence[Server],
    timeout: float = TIMEOUT,
) -> DnsDiagnosis:
    """Look ``name`` up through the LAN's resolver and the zone's first answering server."""
    rdtype = dns.rdatatype.A if expected.version == 4 else dns.rdatatype.AAAA
    if lan is None:
        lan_lookup = Lookup("(none)", Outcome.UNREACHABLE, error="no resolver configured")
    else:
        lan_lookup = lookup(lan, name, rdtype, recursive=True, timeout=timeout)
    zone_lookup = Lookup("(none)", Outcome.UNREACHABLE, error="no server of the zone found")
    for server in zone:
        zone_lookup = lookup(server, name, rdtype, recursive=False, timeout=timeout)
        if zone_lookup.outcome is not Outcome.UNREACHABLE:
            break
    return classify(name, expected, lan_lookup, zone_lookup)


@dataclass(frozen=True, slots=True)
class DnsSettings:
    zone: str
    lan_resolver: Server | None = None  # None: the system's
    zone_dns: tuple[Server, ...] = ()  # empty: found by NS lookup
    timeout: float = TIMEOUT


class CachedDiagnosis:
    """One diagnosis at a time, reused for its answers' TTL (30 s to 10 min).

    The homepage may ask on every load: the resolvers see at most one pair of lookups per
    TTL, and never two at once (a second caller gets the last result, or None at first).
    """

    def __init__(self, settings: DnsSettings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._last: DnsDiagnosis | None = None
        self._key: tuple[str, str] | None = None
        self._until: datetime | None = None

    def get(self, name: str, expected: IPAddress) -> DnsDiagnosis | None:
        key = (name, str(expected))
        if self._fresh(key):
            return self._last
        if not self._lock.acquire(blocking=False):
            return self._last if self._key == key else None
        try:
            if self._fresh(key):
                return self._last
            result = self._run(name, expected)
            ttl = timedelta(seconds=min(result.lan.ttl or 0, result.zone.ttl or 0))
            self._last, self._key = result, key
            self._until = self.clock() + min(max(ttl, MIN_CACHE), MAX_CACHE)
            return result
        finally:
            self._lock.release()

    def _fresh(self, key: tuple[str, str]) -> bool:
        return self._key == key and self._until is not None and self.clock() < self._until

    def peek(self, name: str, expected: IPAddress) -> tuple[DnsDiagnosis | None, bool]:
        """The last result for ``name`` (None if none) and whether it is still fresh; never
        looks anything up (a page can show it at once and ask for a new one elsewhere)."""
        key = (name, str(expected))
        last = self._last if self._key == key else None
        return last, self._fresh(key)

    def _run(self, name: str, expected: IPAddress) -> DnsDiagnosis:
        return run_diagnosis(self.settings, name, expected)


def run_diagnosis(settings: DnsSettings, name: str, expected: IPAddress) -> DnsDiagnosis:
    """One diagnosis with ``settings``: the LAN resolver given or the system's first, the
    zone's servers given or found by an NS query through it."""
    lan = settings.lan_resolver
    if lan is None:
        found = system_resolvers()
        lan = found[0] if found else None
    zone = list(settings.zone_dns)
    if not zone and lan is not None:
        zone = zone_servers(settings.zone, lan, settings.timeout)
    return diagnose(name, expected, lan, zone, settings.timeout)
