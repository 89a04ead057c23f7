"""The header screen: what it turns down, and that a turned-down packet is never parsed.

The attack packets of the hardening issue (8,000 compressed questions; 16,000 empty EDNS
options) cost 86-320 ms each when dnspython parsed them whole. Here the work is counted, not
timed: the server's reference parser is injected, and for those packets it is never called.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.edns
import dns.message
import dns.rcode
import pytest

from boxcert.dns.answer import StaticZoneData, ZoneConfig
from boxcert.dns.screen import MAX_EDNS_OPTIONS, MAX_OPT_DATA, Verdict, screen
from boxcert.dns.server import DnsServer
from tests.dns_running import Running

Z = "iot.boxcert.test"
HOST = f"192-168-1-5.abcdefghijklmnop.{Z}"


def header(qid: int = 0xBEEF, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0,
           ar: int = 0) -> bytes:  # fmt: skip
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = b"\x03www\x03iot\x07boxcert\x04test\x00\x00\x01\x00\x01"


def opt(options: bytes = b"", payload: int = 1232, owner: bytes = b"\x00") -> bytes:
    return owner + struct.pack("!HHIH", 41, payload, 0, len(options)) + options


def empty_options(count: int) -> bytes:
    return struct.pack("!HH", 65001, 0) * count


def compressed_questions(count: int) -> bytes:
    """A question, then ``count - 1`` more whose names all point at the first."""
    return header(qd=count) + QUESTION + (b"\xc0\x0c\x00\x01\x00\x01" * (count - 1))


ATTACKS = {
    "8,000 compressed questions": compressed_questions(8000),
    "16,000 empty EDNS options": header(ar=1) + QUESTION + opt(empty_options(16000)),
    "an OPT just over the size bound": header(ar=1) + QUESTION + opt(b"\x00" * (MAX_OPT_DATA + 1)),
    "one option too many": header(ar=1) + QUESTION + opt(empty_options(MAX_EDNS_OPTIONS + 1)),
    "two OPT records": header(ar=2) + QUESTION + opt() + opt(),
    "no question": header(qd=0),
    "two questions": header(qd=2) + QUESTION + QUESTION,
    "an answer record in a query": header(an=1) + QUESTION + b"\xc0\x0c" + QUESTION[-4:],
    "an authority record in a query": header(ns=1) + QUESTION,
    "65,535 additional records": header(ar=65535) + QUESTION + opt() * 100,
    "a pointer as the question name": header() + b"\xc0\x0c\x00\x01\x00\x01",
    "a label type that does not exist": header() + b"\x41" + b"x" * 65 + QUESTION,
    "a name longer than 255 bytes": header() + (b"\x3f" + b"x" * 63) * 5 + b"\x00\x00\x01\x00\x01",
    "a question cut short": header() + QUESTION[:-2],
    "an OPT running past the end": header(ar=1) + QUESTION + opt(b"\x00\x0a\x00\x08abc"),
    "bytes after the last record": header() + QUESTION + b"\x00" * 60000,
}


@pytest.mark.parametrize("packet", ATTACKS.values(), ids=ATTACKS.keys())
def test_malformed_or_oversized_queries_are_formerr_from_the_header(packet: bytes) -> None:
    assert screen(packet) is Verdict.FORMERR


def test_what_passes() -> None:
    assert screen(header() + QUESTION) is Verdict.ANSWER
    assert screen(header(ar=1) + QUESTION + opt()) is Verdict.ANSWER
    assert screen(header(ar=1) + QUESTION + opt(empty_options(MAX_EDNS_OPTIONS))) is Verdict.ANSWER
    cookie = dns.edns.CookieOption(b"\x01" * 8, b"")
    with_cookie = dns.message.make_query(HOST, "A", use_edns=0, options=[cookie]).to_wire()
    assert screen(with_cookie) is Verdict.ANSWER
    padded = dns.message.make_query(HOST, "A", use_edns=0, pad=128).to_wire()
    assert screen(padded) is Verdict.ANSWER
    # An OPT and a TSIG-like record after it (dnspython decides what to make of the TSIG).
    tsig = b"\xc0\x0c" + struct.pack("!HHIH", 250, 255, 0, 0)
    assert screen(header(ar=2) + QUESTION + opt() + tsig) is Verdict.ANSWER
    assert screen(header() + b"\x00\x00\x01\x00\x01") is Verdict.ANSWER  # the root name


@pytest.mark.parametrize(
    ("packet", "verdict"),
    [
        (b"", Verdict.DROP),
        (header()[:11], Verdict.DROP),
        (header(flags=0x8100) + QUESTION, Verdict.DROP),  # a response
        (header(flags=0x8100, qd=8000), Verdict.DROP),
        (header(flags=0x2000) + QUESTION, Verdict.NOTIMP),  # NOTIFY
        (header(flags=0x2800, qd=1, an=3, ns=9000), Verdict.NOTIMP),  # UPDATE, whatever follows
        (header(flags=0x1000) + QUESTION, Verdict.NOTIMP),  # STATUS
    ],
)
def test_responses_are_dropped_and_other_opcodes_not_implemented(
    packet: bytes, verdict: Verdict
) -> None:
    assert screen(packet) is verdict


class CountingParser:
    """dnspython's parser, counting its calls (injected into the server: no patching)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, wire: bytes) -> dns.message.Message:
        self.calls += 1
        return dns.message.from_wire(wire)


@pytest.fixture
def counted() -> Iterator[tuple[int, CountingParser]]:
    parser = CountingParser()
    server = DnsServer(ZoneConfig(Z), StaticZoneData({}), "127.0.0.1", 0, parse=parser)
    with Running(server) as port:
        yield port, parser


def _udp(port: int, wire: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)  # a hang guard
        sock.sendto(wire, ("127.0.0.1", port))
        return sock.recv(65535)


def _tcp(port: int, wire: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        stream = sock.makefile("rb")
        (size,) = struct.unpack("!H", stream.read(2))
        return bytes(stream.read(size))


def test_attack_packets_never_reach_the_parser(counted: tuple[int, CountingParser]) -> None:
    port, parser = counted
    for name, packet in ATTACKS.items():
        assert len(packet) <= 65507  # one datagram
        for send in (_udp, _tcp):
            assert send(port, packet) == header(flags=0x8101 | dns.rcode.FORMERR, qd=0), name
    assert parser.calls == 0
    # The server still answers, and the counter counts: a query with a cookie takes the
    # reference path (the fast path leaves EDNS options to dnspython).
    cookie = dns.edns.CookieOption(b"\x01" * 8, b"")
    query = dns.message.make_query(HOST, "A", use_edns=0, options=[cookie])
    response = dns.message.from_wire(_udp(port, query.to_wire()))
    assert response.answer[0][0].to_text() == "192.168.1.5"
    assert parser.calls == 1


def test_plain_questions_never_reach_the_parser(counted: tuple[int, CountingParser]) -> None:
    port, parser = counted
    for rdtype in ("A", "AAAA", "TXT"):
        for edns in (-1, 0):
            wire = dns.message.make_query(HOST.upper(), rdtype, use_edns=edns).to_wire()
            assert dns.message.from_wire(_udp(port, wire)).rcode() == dns.rcode.NOERROR
    assert dns.message.from_wire(_tcp(port, wire)).rcode() == dns.rcode.NOERROR
    assert parser.calls == 0


def test_other_opcodes_get_notimp_from_the_header(counted: tuple[int, CountingParser]) -> None:
    port, parser = counted
    notify = header(qid=0x1234, flags=0x2000 | 0x0100) + QUESTION
    assert _udp(port, notify) == header(qid=0x1234, flags=0xA100 | dns.rcode.NOTIMP, qd=0)
    assert parser.calls == 0
