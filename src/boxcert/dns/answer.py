"""The zone's answers: a pure function of (query, zone configuration, TXT data). No sockets.

What the zone holds, for a zone ``Z`` and any valid holder label ``L`` (``naming.is_label``):

=================================  ==========================================================
name                               records
=================================  ==========================================================
``Z``                              SOA, NS
``<ns name>`` (inside ``Z``)       A/AAAA from the configured NS addresses (may be none)
``L.Z``                            none (exists, so NODATA, never NXDOMAIN)
``a-b-c-d.L.Z``                    A a.b.c.d          (LAN addresses only unless allow_public)
``fd00--1.L.Z``                    AAAA fd00::1       (same rule)
``_acme-challenge.L.Z``            TXT: every value the issuer published (may be none: NODATA)
anything else under ``Z``          NXDOMAIN
=================================  ==========================================================

A name spelling a public address is NXDOMAIN unless ``allow_public``: for us that name does
not exist, so resolvers cache the refusal with the SOA like any absent name, and no CA can
validate it. Names outside the zone are REFUSED (no recursion, RA is never set). ``ANY`` gets
one RRset of the name (RFC 8482). Every in-zone answer carries AA; NXDOMAIN and NODATA carry
the SOA in the authority section (RFC 2308). The transport owns what needs the wire: FORMERR for
an unparsable packet, SERVFAIL when this module raises, and truncation to the client's size;
:func:`encode` is how it renders a response (records in their stored order, never shuffled, so
the same question gets the same bytes: TXT values oldest first).
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from boxcert import naming
from boxcert.dns.hostlabel import host_address
from boxcert.naming import IPAddress

ACME_LABEL = "_acme-challenge"
# Advertised EDNS payload, and the most we send over UDP (DNS flag day 2020: no fragments).
EDNS_PAYLOAD = 1232
_TXT_CHUNK = 255  # one TXT character-string holds at most 255 bytes

IN = dns.rdataclass.IN
A, AAAA, TXT = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT
SOA, NS, ANY = dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.ANY


class ZoneData(Protocol):
    """The zone's changing part: TXT values the issuer publishes for ACME DNS-01.

    ``txt_values(name)`` gets a name in lowercase without the trailing dot
    (``_acme-challenge.<label>.<zone>``) and returns every value currently published for it
    (unexpired), oldest first; an empty list when there is none. It may block and may raise;
    a raise becomes SERVFAIL in the transport, never a wrong answer.
    """

    def txt_values(self, name: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class StaticZoneData:
    """ZoneData from a mapping, for tests; also a ``TxtSource`` for the server (``load``)."""

    values: Mapping[str, Sequence[str]]

    def txt_values(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))

    def load(self) -> Mapping[str, Sequence[str]]:
        return self.values


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    """The static part of the zone. Names are normalized; NS defaults to ``ns1.<zone>``.

    ``ns_addresses`` are served as A/AAAA for every NS name inside the zone.
    """

    zone: str = naming.DEFAULT_ZONE
    ns_names: tuple[str, ...] = ()
    ns_addresses: tuple[IPAddress, ...] = ()
    allow_public: bool = False
    ttl: int = 300
    txt_ttl: int = 60
    negative_ttl: int = 60  # SOA minimum: how long resolvers cache NXDOMAIN / NODATA
    serial: int = 1

    def __post_init__(self) -> None:
        zone = naming.normalize_zone(self.zone)
        names = tuple(naming.normalize_zone(n) for n in self.ns_names) or (f"ns1.{zone}",)
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "ns_names", names)
        object.__setattr__(self, "ns_addresses", tuple(self.ns_addresses))


class Kind(enum.Enum):
    """What lives at a name of the zone."""

    APEX = "apex"
    NS_HOST = "ns-host"
    EMPTY = "empty"  # exists, holds nothing: a holder label, or a parent of an NS name
    HOST = "host"
    CHALLENGE = "challenge"


class Node(NamedTuple):
    """A name that exists: its kind, and the address or TXT name it holds.

    A named tuple rather than a frozen dataclass: one is made for every name answered that was
    not in the response cache, and this is the cheaper to make.
    """

    kind: Kind
    ip: IPAddress | None = None
    txt_name: str = ""


@dataclass(frozen=True, slots=True)
class _Compiled:
    origin: dns.name.Name
    soa: dns.rdata.Rdata
    ns: tuple[dns.rdata.Rdata, ...]
    ns_hosts: frozenset[tuple[str, ...]]  # relative, lowercase labels of NS names in the zone
    empty: frozenset[tuple[str, ...]]  # their strict ancestors inside the zone


@functools.lru_cache(maxsize=16)
def _compile(zone: ZoneConfig) -> _Compiled:
    origin = dns.name.from_text(zone.zone)
    ns_names = [dns.name.from_text(n) for n in zone.ns_names]
    hosts = {
        tuple(label.decode("ascii") for label in n.relativize(origin).labels)
        for n in ns_names
        if n.is_subdomain(origin) and n != origin
    }
    empty = {h[i:] for h in hosts for i in range(1, len(h))}
    soa = dns.rdata.from_text(
        IN,
        SOA,
        # refresh, retry, expire; the minimum is the negative caching time (RFC 2308)
        f"{ns_names[0]} hostmaster.{zone.zone}. {zone.serial} 3600 600 1209600 {zone.negative_ttl}",
    )
    ns = tuple(dns.rdata.from_text(IN, NS, n.to_text()) for n in ns_names)
    return _Compiled(origin, soa, ns, frozenset(hosts), frozenset(empty - hosts))


def _classify(labels: tuple[str, ...], zone: ZoneConfig, compiled: _Compiled) -> Node | None:
    """What lives at a name (labels relative to the zone, lowercase); None when nothing."""
    if not labels:
        return Node(Kind.APEX)
    if labels in compiled.ns_hosts:
        return Node(Kind.NS_HOST)
    if labels in compiled.empty:
        return Node(Kind.EMPTY)
    if not naming.is_label(labels[-1]):
        return None
    if len(labels) == 1:
        return Node(Kind.EMPTY)
    if len(labels) != 2:
        return None
    if labels[0] == ACME_LABEL:
        return Node(Kind.CHALLENGE, txt_name=f"{ACME_LABEL}.{labels[1]}.{zone.zone}")
    ip = host_address(labels[0], zone.allow_public)
    return None if ip is None else Node(Kind.HOST, ip=ip)


def classifier(zone: ZoneConfig) -> Callable[[tuple[str, ...]], Node | None]:
    """What lives at a name, given its labels relative to the zone in lowercase; None: the name
    does not exist (NXDOMAIN). The one rule both :func:`answer` and the fast path use."""
    compiled = _compile(zone)

    def classify(labels: tuple[str, ...]) -> Node | None:
        return _classify(labels, zone, compiled)

    return classify


def zone_soa(zone: ZoneConfig) -> dns.rdata.Rdata:
    """The zone's SOA record, also the negative answers' (with :func:`negative_ttl`)."""
    return _compile(zone).soa


def negative_ttl(zone: ZoneConfig) -> int:
    # RFC 2308 section 3: the TTL of the SOA in a negative answer is the negative caching time.
    return min(zone.ttl, zone.negative_ttl)


def _relative(qname: dns.name.Name, compiled: _Compiled) -> tuple[str, ...] | None:
    if not qname.is_subdomain(compiled.origin):
        return None
    rel = qname.relativize(compiled.origin)
    return tuple(label.decode("latin-1").lower() for label in rel.labels)


def txt_name(query: dns.message.Message, zone: ZoneConfig) -> str | None:
    """The name :func:`answer` will pass to ``data.txt_values`` for this query, if any.

    Lets a transport get the TXT data ready (perhaps waiting for it) before answering.
    """
    if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        return None
    question = query.question[0]
    if question.rdclass != IN or question.rdtype not in (TXT, ANY):
        return None
    compiled = _compile(zone)
    labels = _relative(question.name, compiled)
    node = None if labels is None else _classify(labels, zone, compiled)
    return node.txt_name if node is not None and node.kind is Kind.CHALLENGE else None


@functools.lru_cache(maxsize=4096)
def _address_rdata(ip: IPAddress) -> dns.rdata.Rdata:
    return dns.rdata.from_text(IN, A if isinstance(ip, ipaddress.IPv4Address) else AAAA, str(ip))


def _rrset(name: dns.name.Name, ttl: int, rdatas: Sequence[dns.rdata.Rdata]) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, IN, rdatas[0].rdtype)
    for rdata in rdatas:
        rrset.add(rdata, ttl)
    return rrset


def txt_strings(value: str) -> list[bytes]:
    """A TXT value as the character-strings of its record (UTF-8, 255 bytes each)."""
    raw = value.encode("utf-8")
    return [raw[i : i + _TXT_CHUNK] for i in range(0, len(raw), _TXT_CHUNK)] or [b""]


def _txt_rdata(value: str) -> dns.rdata.Rdata:
    return dns.rdtypes.ANY.TXT.TXT(IN, TXT, txt_strings(value))


def _records(
    node: Node,
    qname: dns.name.Name,
    zone: ZoneConfig,
    compiled: _Compiled,
    data: ZoneData,
) -> list[dns.rrset.RRset]:
    """Every RRset at the node, the one that ANY gets first."""
    if node.kind is Kind.APEX:
        return [
            _rrset(qname, zone.ttl, [compiled.soa]),
            _rrset(qname, zone.ttl, list(compiled.ns)),
        ]
    if node.kind is Kind.NS_HOST:
        by_type: dict[int, list[dns.rdata.Rdata]] = {}
        for ip in zone.ns_addresses:
            rdata = _address_rdata(ip)
            by_type.setdefault(rdata.rdtype, []).append(rdata)
        return [_rrset(qname, zone.ttl, rdatas) for rdatas in by_type.values()]
    if node.kind is Kind.HOST:
        assert node.ip is not None
        return [_rrset(qname, zone.ttl, [_address_rdata(node.ip)])]
    if node.kind is Kind.CHALLENGE:
        values = data.txt_values(node.txt_name)
        return [_rrset(qname, zone.txt_ttl, [_txt_rdata(v) for v in values])] if values else []
    return []


def _glue(zone: ZoneConfig, compiled: _Compiled) -> list[dns.rrset.RRset]:
    glue: list[dns.rrset.RRset] = []
    for labels in sorted(compiled.ns_hosts):
        name = dns.name.Name(
            tuple(label.encode("ascii") for label in labels) + compiled.origin.labels
        )
        node = Node(Kind.NS_HOST)
        glue.extend(_records(node, name, zone, compiled, StaticZoneData({})))
    return glue


def answer(query: dns.message.Message, zone: ZoneConfig, data: ZoneData) -> dns.message.Message:
    """The response to ``query``; see the module docstring for what the zone holds."""
    response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if query.edns > 0:
        response.set_rcode(dns.rcode.BADVERS)  # RFC 6891 6.1.3; our OPT says version 0
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    compiled = _compile(zone)
    labels = _relative(question.name, compiled)
    if (
        question.rdclass != IN
        or labels is None
        or question.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
    ):
        response.set_rcode(dns.rcode.REFUSED)
        return response
    response.flags |= dns.flags.AA
    node = _classify(labels, zone, compiled)
    if node is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(_negative_soa(zone, compiled))
        return response
    rrsets = _records(node, question.name, zone, compiled, data)
    if question.rdtype == ANY:
        rrsets = rrsets[:1]  # RFC 8482: one RRset is a complete answer
    else:
        rrsets = [r for r in rrsets if r.rdtype == question.rdtype]
    if not rrsets:
        response.authority.append(_negative_soa(zone, compiled))  # NODATA
        return response
    response.answer.extend(rrsets)
    if rrsets[0].rdtype == NS:
        response.additional.extend(_glue(zone, compiled))
    return response


def encode(response: dns.message.Message, max_size: int) -> bytes:
    """The response's wire form in at most ``max_size`` bytes (TC set when cut short).

    dnspython shuffles the records of an RRset by default; we keep their order, so an answer is
    reproducible byte for byte (the response cache and the fast path rely on it).
    """
    return response.to_wire(max_size=max_size, prefer_truncation=True, want_shuffle=False)


def _negative_soa(zone: ZoneConfig, compiled: _Compiled) -> dns.rrset.RRset:
    return _rrset(compiled.origin, negative_ttl(zone), [compiled.soa])
