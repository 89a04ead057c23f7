"""The DNS part of the standing fuzz suite: hostile packets against the running server.

Packets are random bytes, golden queries damaged (bytes changed, cut, counts set, records and
options added) and generated queries (names, types, flags, EDNS). Each is sent to the real
server over UDP or TCP, and what comes back must be, byte for byte, what the reference gives:
the screen's verdict, else dnspython's parse → answer → encode (FORMERR when it cannot parse).
That holds the fast path and the case-insensitive cache to the reference on every packet. No
error may be logged, and afterwards the golden exchanges still get their captured bytes.

Budgets: ``tests/fuzzing.py`` (``make fuzz``: 100,000 UDP packets and 10,000 TCP messages).
"""

from __future__ import annotations

import logging
import random
import socket
import struct
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from boxcert.dns.answer import EDNS_PAYLOAD, answer, encode
from boxcert.dns.screen import Verdict, screen
from boxcert.dns.server import DnsServer
from tests.dns_golden import DATA, ZONE, Exchange, load, tcp_exchange
from tests.dns_running import Running
from tests.fuzzing import budget, report

pytestmark = pytest.mark.fuzz
GOLDEN = load()
LABELS = [b"192-168-1-5", b"fd00--1", b"8-8-8-8", b"abcdefghijklmnop", b"_acme-challenge",
          b"qrstuvwxyz234567", b"ns1", b"www", b"iot", b"boxcert", b"example", b"x"]  # fmt: skip


def _header_reply(wire: bytes, rcode: int) -> bytes:
    flags = int.from_bytes(wire[2:4], "big")
    flags = dns.flags.QR | (flags & 0x7800) | (flags & dns.flags.RD) | rcode
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)


def expected(wire: bytes, udp: bool) -> bytes | None:
    """The reference reply (None: dropped)."""
    verdict = screen(wire)
    if verdict is Verdict.DROP:
        return None
    if verdict is not Verdict.ANSWER:
        rcode = dns.rcode.FORMERR if verdict is Verdict.FORMERR else dns.rcode.NOTIMP
        return _header_reply(wire, rcode)
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return _header_reply(wire, dns.rcode.FORMERR)
    if not udp:
        size = 65535
    elif query.edns < 0:
        size = 512
    else:
        size = max(512, min(query.payload, EDNS_PAYLOAD))
    return encode(answer(query, ZONE, DATA), size)


def _random_case(data: bytes, rng: random.Random) -> bytes:
    return bytes(b ^ 0x20 if 0x61 <= (b | 0x20) <= 0x7A and rng.random() < 0.5 else b for b in data)


def generated(rng: random.Random) -> bytes:
    labels = [rng.choice(LABELS) for _ in range(rng.randrange(0, 4))]
    labels += rng.choice([[b"iot", b"boxcert", b"test"], [b"example", b"com"], []])
    name = b"".join(bytes((len(x),)) + x for x in labels) + b"\x00"
    flags = rng.choice([0x0100, 0x0000, 0x0120, rng.randrange(0x10000)])
    qtype = rng.choice([1, 28, 16, 255, 6, 2, 15, 252, rng.randrange(0x10000)])
    qclass = rng.choice([1, 1, 1, 3, 255])
    additional = b""
    if rng.random() < 0.6:
        payload = rng.choice([512, 1232, 4096, 100, rng.randrange(0x10000)])
        ttl = rng.choice([0, 0, 0x8000, 0x00010000, rng.randrange(1 << 32)])
        options = rng.choice([b"", b"", b"\x00\x0a\x00\x08" + rng.randbytes(8)])
        additional = b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options
    head = struct.pack("!HHHHHH", rng.randrange(0x10000), flags, 1, 0, 0, 1 if additional else 0)
    return _random_case(head[:12] + name, rng) + struct.pack("!HH", qtype, qclass) + additional


def damaged(rng: random.Random) -> bytes:
    wire = bytearray(rng.choice(GOLDEN).query)
    for _ in range(rng.randrange(1, 4)):
        if not wire:
            break
        how = rng.randrange(6)
        at = rng.randrange(len(wire))
        if how == 0:
            wire[at] = rng.randrange(256)
        elif how == 1:
            wire[at] ^= 1 << rng.randrange(8)
        elif how == 2:
            del wire[at:]
        elif how == 3:
            wire[at:at] = rng.randbytes(rng.randrange(1, 20))
        elif how == 4:  # a count
            field = rng.choice([4, 6, 8, 10])
            wire[field : field + 2] = struct.pack("!H", rng.choice([0, 1, 2, 3, 8000, 65535]))
        else:  # another OPT, or options
            wire += rng.choice([b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00",
                                b"\xfd\xe9\x00\x00" * rng.randrange(1, 40)])  # fmt: skip
    return bytes(wire)


def packets(rng: random.Random) -> Iterator[bytes]:
    kinds: list[Callable[[random.Random], bytes]] = [
        generated,
        generated,
        damaged,
        damaged,
        lambda r: r.randbytes(r.randrange(0, 120)),
        lambda r: _random_case(r.choice(GOLDEN).query, r),  # a 0x20 query: the cache's
    ]
    while True:
        yield rng.choice(kinds)(rng)


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="boxcert.dns")
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def _server() -> DnsServer:
    return DnsServer(ZONE, DATA, "127.0.0.1", 0, monotonic=lambda: 0.0)


def _golden_still_right(port: int) -> None:
    def udp(wire: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(wire, ("127.0.0.1", port))
            return sock.recv(65535)

    for e in GOLDEN:
        send: Callable[[bytes], bytes] = udp if e.transport == "udp" else (
            lambda w: tcp_exchange(port, w)
        )  # fmt: skip
        assert send(e.query) == e.response, e.name


def test_udp_packets(no_errors: None) -> None:
    count = budget(3000, 100_000)
    rng = random.Random(0xD45)
    replies = 0
    wrong: list[str] = []  # packets (hex) whose reply differed from the reference
    with Running(_server()) as port, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)  # a hang guard: every expected reply comes at once on loopback
        source = packets(rng)
        for _ in range(count):
            wire = next(source)[:65507]
            want = expected(wire, udp=True)
            sock.sendto(wire, ("127.0.0.1", port))
            if want is None:
                continue
            got = sock.recv(65535)
            replies += 1
            if got != want:
                wrong.append(wire.hex())
        # Nothing stray arrived for a dropped packet: the next reply is this query's.
        probe = GOLDEN[0]
        sock.sendto(probe.query, ("127.0.0.1", port))
        assert sock.recv(65535) == probe.response
        _golden_still_right(port)
    report(
        "dns-udp-packets",
        packets=count,
        replies=replies,
        dropped=count - replies,
        failures=len(wrong),
    )
    assert wrong == []


def _read_message(sock: socket.socket) -> bytes:
    prefix = _recv_exactly(sock, 2)
    return _recv_exactly(sock, struct.unpack("!H", prefix)[0])


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_tcp_messages_and_streams(no_errors: None) -> None:
    count = budget(300, 10_000)
    rng = random.Random(0x7C9)
    messages = replies = streams = 0
    wrong: list[str] = []
    with Running(_server()) as port:
        source = packets(rng)
        while messages < count:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if rng.random() < 0.1:  # a garbage stream: lengths that lie, or just bytes
                    sock.sendall(rng.randbytes(rng.randrange(1, 300)))
                    streams += 1
                    messages += 1
                    continue
                batch = [next(source) for _ in range(rng.randrange(1, 6))]
                sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in batch))
                for wire in batch:
                    want = expected(wire, udp=False)
                    messages += 1
                    if want is None:
                        continue
                    got = _read_message(sock)
                    replies += 1
                    if got != want:
                        wrong.append(wire.hex())
        _golden_still_right(port)
    report(
        "dns-tcp-messages",
        messages=messages,
        replies=replies,
        garbage_streams=streams,
        failures=len(wrong),
    )
    assert wrong == []


def test_golden_module_is_the_one_replayed() -> None:
    assert all(isinstance(e, Exchange) for e in GOLDEN) and len(GOLDEN) >= 10
