"""The common answer built straight from the query's bytes: one A, AAAA or TXT question.

Nearly every query the zone gets asks for the address of a host name (each box's name, the first
time a resolver sees it) or for a challenge's TXT values, in one question with at most a plain
EDNS OPT. Parsing such a query into dnspython objects and rendering the response costs about
100 µs; here the question's labels are read from the bytes, the zone's rule
(:func:`boxcert.dns.answer.classifier`, the one :func:`~boxcert.dns.answer.answer` uses) says
what lives there, and the response bytes are written directly.

The result is the bytes :func:`~boxcert.dns.answer.encode` gives for
:func:`~boxcert.dns.answer.answer` of the same query, byte for byte: dnspython stays the
reference, and tests compare the two on the whole answer table and on generated queries. The
response holds the question copied from the query (its letter case kept), the records owned by a
pointer to the question name, a negative answer's SOA compressed against the names before it as
dnspython compresses (case-insensitively, first occurrence wins), and our OPT when the query had
one.

:meth:`FastAnswers.reply` returns None — take the reference path — for everything else:

- a question of another type (SOA, NS, ANY, ...) or class, or an NS host's own addresses;
- EDNS with options (cookies, padding), another version than 0 (BADVERS), or any other
  additional record (TSIG); anything that does not read as one plain question;
- an answer larger than the client's size (it must be truncated).

A TXT question for a challenge name while no snapshot of the TXT values is at hand gets
:data:`WAIT_FOR_TXT`: the transport waits for the snapshot and asks again.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import struct
from collections.abc import Callable
from typing import Protocol

import dns.name
import dns.rdtypes.ANY.SOA

from boxcert.dns.answer import (
    EDNS_PAYLOAD,
    Kind,
    ZoneConfig,
    classifier,
    negative_ttl,
    txt_strings,
    zone_soa,
)

_QUESTION_ONLY = b"\x00\x01\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
_A, _AAAA, _TXT = b"\x00\x01", b"\x00\x1c", b"\x00\x10"
_IN = b"\x00\x01"
_TO_QUESTION = b"\xc0\x0c"  # a pointer to the question name, which always starts at 12
_OPT_TYPE = b"\x00\x29"
_NOERROR, _NXDOMAIN, _REFUSED = 0, 3, 5
_QR, _AA, _RD = 0x80, 0x04, 0x01
_MAX_NAME = 255
_MAX_POINTER = 0x3FFF
UDP_PLAIN = 512  # a client without EDNS takes this much over UDP
TCP_MAX = 65535


class TxtView(Protocol):
    """The TXT values at hand (a :class:`~boxcert.dns.zonedata.Snapshot`)."""

    @property
    def fresh_until(self) -> float: ...

    def txt_values(self, name: str) -> list[str]: ...


class Wait(enum.Enum):
    TXT = "txt"


WAIT_FOR_TXT = Wait.TXT

# (reply, keep until, name end): until when the reply may be served again on the transport's
# monotonic clock (inf when it depends on no TXT value, -inf when it must not be kept: REFUSED),
# and the offset where the question name ends (for the response cache's key).
Reply = tuple[bytes, float, int]


class FastAnswers:
    """The fast path for one zone. Pure: no I/O, no state beyond the zone's constants."""

    def __init__(self, zone: ZoneConfig) -> None:
        self._classify = classifier(zone)
        origin = dns.name.from_text(zone.zone)
        self._zone_labels = len(origin.labels) - 1
        self._zone_wire = origin.to_wire() or b""
        self._ttl = struct.pack("!I", zone.ttl)
        self._txt_ttl = struct.pack("!I", zone.txt_ttl)
        soa = zone_soa(zone)
        assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
        self._mname = _suffixes(soa.mname)
        self._rname = _suffixes(soa.rname)
        # Only question suffixes that one of these names could point at go in the table.
        self._wanted = {key for key, _ in (*self._mname, *self._rname)}
        self._longest_wanted = max(len(key) for key in self._wanted)
        self._soa_ints = struct.pack(
            "!IIIII", soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
        )
        self._negative_head = struct.pack("!HHI", 6, 1, negative_ttl(zone))  # SOA IN ttl
        self._opt = b"\x00" + _OPT_TYPE + struct.pack("!HIH", EDNS_PAYLOAD, 0, 0)

    def reply(
        self, wire: bytes, udp: bool, txt: Callable[[], TxtView | None]
    ) -> Reply | Wait | None:
        """The response to ``wire`` (a query received over UDP if ``udp``, else TCP), or None
        when the reference path must answer it; ``txt()`` gives the TXT snapshot to answer
        from, or None when there is none at hand (then :data:`WAIT_FOR_TXT` for a question that
        needs it). See the module docstring."""
        size = len(wire)
        if size < 17 or wire[2] & 0xF8 or wire[4:10] != _QUESTION_ONLY:
            return None  # a response, another opcode, or not one bare question
        # The question name: labels only (no pointer), at most 255 bytes.
        starts: list[int] = []  # where each label's length byte is
        pos, limit = 12, min(size, 12 + _MAX_NAME)
        while True:
            if pos >= limit:
                return None
            length = wire[pos]
            if length == 0:
                break
            if length > 63:
                return None
            starts.append(pos)
            pos += length + 1
        question_end = pos + 5  # the root label, QTYPE, QCLASS
        qtype = wire[pos + 1 : pos + 3]
        if wire[pos + 3 : question_end] != _IN or qtype not in (_A, _AAAA, _TXT):
            return None
        additional = wire[10:12]
        if additional == b"\x00\x00":
            if question_end != size:
                return None
            opt = b""
            max_size = UDP_PLAIN if udp else TCP_MAX
        elif additional == b"\x00\x01":
            # Only a bare OPT: root owner, version 0, no options.
            if (
                size != question_end + 11
                or wire[question_end : question_end + 3] != b"\x00" + _OPT_TYPE
                or wire[question_end + 6] != 0
                or wire[question_end + 9 : size] != b"\x00\x00"
            ):
                return None
            opt = self._opt
            payload = int.from_bytes(wire[question_end + 3 : question_end + 5], "big")
            max_size = max(UDP_PLAIN, min(payload, EDNS_PAYLOAD)) if udp else TCP_MAX
        else:
            return None

        head = wire[:2]
        rd = wire[2] & _RD
        question = wire[12:question_end]
        arcount = b"\x00\x01" if opt else b"\x00\x00"
        zone_start = question_end - 4 - len(self._zone_wire)
        n = len(starts) - self._zone_labels
        if (
            n < 0
            or starts[n] != zone_start
            or wire[zone_start : question_end - 4].lower() != self._zone_wire
        ):
            flags = bytes((_QR | rd, _REFUSED))
            reply = head + flags + b"\x00\x01\x00\x00\x00\x00" + arcount + question + opt
            return (reply, -math.inf, pos + 1) if len(reply) <= max_size else None

        node = self._classify(
            tuple([wire[at + 1 : at + 1 + wire[at]].decode("latin-1").lower() for at in starts[:n]])
        )
        keep = math.inf
        records: list[bytes] = []
        if node is None:
            rcode = _NXDOMAIN
        else:
            rcode = _NOERROR
            kind = node.kind
            if kind is Kind.HOST:
                ip = node.ip
                if isinstance(ip, ipaddress.IPv4Address):
                    if qtype == _A:
                        records.append(
                            _TO_QUESTION + _A + _IN + self._ttl + b"\x00\x04" + ip.packed
                        )
                elif qtype == _AAAA and ip is not None:
                    records.append(_TO_QUESTION + _AAAA + _IN + self._ttl + b"\x00\x10" + ip.packed)
            elif kind is Kind.CHALLENGE:
                if qtype == _TXT:
                    snapshot = txt()
                    if snapshot is None:
                        return WAIT_FOR_TXT
                    keep = snapshot.fresh_until
                    for value in dict.fromkeys(snapshot.txt_values(node.txt_name)):
                        rdata = b"".join(bytes((len(s),)) + s for s in txt_strings(value))
                        records.append(
                            _TO_QUESTION
                            + _TXT
                            + _IN
                            + self._txt_ttl
                            + len(rdata).to_bytes(2, "big")
                            + rdata
                        )
            elif kind is Kind.NS_HOST:
                return None  # the configured NS addresses: rare, left to the reference

        flags = bytes((_QR | _AA | rd, rcode))
        if records:
            counts = len(records).to_bytes(2, "big") + b"\x00\x00" + arcount
            body = b"".join(records)
        else:  # NXDOMAIN or NODATA: the SOA in the authority section (RFC 2308)
            counts = b"\x00\x00\x00\x01" + arcount
            body = self._negative_soa(wire, starts, zone_start, question_end + 12)
        reply = head + flags + b"\x00\x01" + counts + question + body + opt
        return (reply, keep, pos + 1) if len(reply) <= max_size else None

    def _negative_soa(
        self, wire: bytes, starts: list[int], zone_start: int, rdata_at: int
    ) -> bytes:
        """The zone's SOA owned by the zone, its names compressed as dnspython would."""
        table: dict[tuple[bytes, ...], int] = {}
        key: tuple[bytes, ...] = ()
        last = len(starts) - 1
        for i in range(last, max(-1, last - self._longest_wanted), -1):
            at = starts[i]
            key = (wire[at + 1 : at + 1 + wire[at]].lower(), *key)
            if key in self._wanted:
                table[key] = at
        rdata = bytearray()
        for name in (self._mname, self._rname):
            for key, label in name:
                pointer = table.get(key)
                if pointer is not None:
                    rdata += struct.pack("!H", 0xC000 | pointer)
                    break
                at = rdata_at + len(rdata)
                if at <= _MAX_POINTER:
                    table[key] = at
                rdata += bytes((len(label),)) + label
            else:
                rdata += b"\x00"
        rdata += self._soa_ints
        owner = struct.pack("!H", 0xC000 | zone_start)
        return owner + self._negative_head + len(rdata).to_bytes(2, "big") + bytes(rdata)


def _suffixes(name: dns.name.Name) -> list[tuple[tuple[bytes, ...], bytes]]:
    """For each label of ``name`` but the root: (the lowercase suffix from it, the label)."""
    labels = name.labels[:-1]
    return [(tuple(x.lower() for x in labels[i:]), labels[i]) for i in range(len(labels))]
