"""Why the box's name does or does not resolve on the LAN: a pure function of two lookups.

The box asks for its own name (``<ip-label>.<label>.<zone>``) twice: through the LAN's resolver
(what phones and PCs in the shop use) and through the zone's authoritative servers (the truth).

=====================================  =========================  =============================
authoritative answer                   LAN answer                 verdict
=====================================  =========================  =============================
any                                    the box's address          OK
the box's address                      no address, NXDOMAIN,      REBINDING_SUSPECTED
                                       REFUSED
the box's address                      another address            WRONG_ADDRESS
the box's address                      timeout / unreachable /    LAN_RESOLVER_UNREACHABLE
                                       SERVFAIL
timeout / unreachable / SERVFAIL       not the box's address      ZONE_UNREACHABLE
no address / NXDOMAIN / other address  not the box's address      NAME_NOT_SERVED
=====================================  =========================  =============================

A router's rebinding protection (dnsmasq's ``--stop-dns-rebind``, unbound's
``private-address``) drops a public answer that points at a private address and answers
NOERROR with no records — which is why "empty while the zone answers" is the signature.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from boxcert.naming import IPAddress


class Outcome(enum.StrEnum):
    ADDRESSES = "addresses"  # NOERROR with at least one address
    NO_ADDRESS = "no_address"  # NOERROR without one (NODATA, or filtered)
    NXDOMAIN = "nxdomain"
    REFUSED = "refused"
    SERVFAIL = "servfail"
    UNREACHABLE = "unreachable"  # timeout, no route, connection refused


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one resolver said about the name."""

    server: str  # "192.168.1.1:53", shown in the detail
    outcome: Outcome
    addresses: tuple[str, ...] = ()
    ttl: int = 0  # seconds the answer may be reused (0: not at all)
    error: str = ""  # for UNREACHABLE: what failed

    def has(self, ip: IPAddress) -> bool:
        return self.outcome is Outcome.ADDRESSES and str(ip) in self.addresses


class DnsVerdict(enum.StrEnum):
    OK = "ok"
    REBINDING_SUSPECTED = "rebinding_suspected"
    WRONG_ADDRESS = "wrong_address"
    LAN_RESOLVER_UNREACHABLE = "lan_resolver_unreachable"
    ZONE_UNREACHABLE = "zone_unreachable"
    NAME_NOT_SERVED = "name_not_served"


_DOWN = (Outcome.UNREACHABLE, Outcome.SERVFAIL)


@dataclass(frozen=True, slots=True)
class DnsDiagnosis:
    verdict: DnsVerdict
    name: str
    expected: str
    detail: str
    lan: Lookup
    zone: Lookup


def said(lookup: Lookup) -> str:
    """What a resolver did, in words that follow its name ("… answered 192.0.2.1")."""
    if lookup.outcome is Outcome.ADDRESSES:
        return "answered " + ", ".join(lookup.addresses)
    if lookup.outcome is Outcome.UNREACHABLE:
        return f"did not answer ({lookup.error})" if lookup.error else "did not answer"
    return {
        Outcome.NO_ADDRESS: "gave an empty answer",
        Outcome.NXDOMAIN: "answered 'no such name'",
        Outcome.REFUSED: "refused to answer",
        Outcome.SERVFAIL: "answered 'server failure'",
    }[lookup.outcome]


def classify(name: str, expected: IPAddress, lan: Lookup, zone: Lookup) -> DnsDiagnosis:
    """The verdict for ``name``, which should resolve to ``expected`` (see the module table)."""

    def verdict(v: DnsVerdict, detail: str) -> DnsDiagnosis:
        return DnsDiagnosis(v, name, str(expected), detail, lan, zone)

    lan_said = f"the LAN's resolver ({lan.server}) {said(lan)}"
    zone_said = f"the zone's server ({zone.server}) {said(zone)}"
    if lan.has(expected):
        return verdict(DnsVerdict.OK, f"{name} resolves to {expected} on the LAN.")
    if zone.has(expected):
        if lan.outcome in (Outcome.NO_ADDRESS, Outcome.NXDOMAIN, Outcome.REFUSED):
            return verdict(DnsVerdict.REBINDING_SUSPECTED, f"{zone_said}, but {lan_said}.")
        if lan.outcome is Outcome.ADDRESSES:
            return verdict(DnsVerdict.WRONG_ADDRESS, f"{lan_said}, not {expected}.")
        return verdict(DnsVerdict.LAN_RESOLVER_UNREACHABLE, f"{lan_said}.")
    if zone.outcome in _DOWN:
        return verdict(DnsVerdict.ZONE_UNREACHABLE, f"{zone_said}; {lan_said}.")
    return verdict(DnsVerdict.NAME_NOT_SERVED, f"{zone_said}, not {expected}; {lan_said}.")
