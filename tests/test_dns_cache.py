"""The response cache: same bytes, same answer with the new ID; nothing stale, nothing wrong."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.tsigkeyring
import pytest
from sqlalchemy.orm import Session, sessionmaker

from boxcert.dns.answer import StaticZoneData, ZoneConfig, answer
from boxcert.dns.cache import ResponseCache, cacheable
from boxcert.dns.server import DnsServer
from boxcert.dns.zonedata import SqlZoneData
from boxcert.issuer.db import open_engine, session_factory
from boxcert.storage import txt as store
from tests.dns_running import Running

Z = "iot.boxcert.test"
L = "abcdefghijklmnop"
HOST = f"192-168-1-5.{L}.{Z}"
ACME = f"_acme-challenge.{L}.{Z}"
MEDIUM = f"_acme-challenge.aaaaaaaaaaaaaaaa.{Z}"
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"


class FakeClock:
    """A monotonic clock that moves only when told; shared by the two caches under test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the cache itself -------------------------------------------------------------------------


def test_entries_expire_after_the_ttl_or_the_data_deadline() -> None:
    clock = FakeClock()
    cache = ResponseCache(size=10, seconds=1.0, monotonic=clock)
    cache.put(b"a", b"A")
    cache.put(b"b", b"B", fresh_until=clock.now + 0.3)  # built from TXT values fresh for 0.3 s
    cache.put(b"c", b"C", fresh_until=clock.now - 1)  # already stale: not kept
    assert len(cache) == 2
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == (b"A", b"B", None)
    clock.now += 0.3
    assert (cache.get(b"a"), cache.get(b"b")) == (b"A", None)
    clock.now += 0.7
    assert cache.get(b"a") is None
    assert len(cache) == 0


def test_size_is_bounded_least_recently_used_first_out() -> None:
    cache = ResponseCache(size=3, seconds=1.0, monotonic=FakeClock())
    for key in (b"1", b"2", b"3"):
        cache.put(key, key)
    assert cache.get(b"1") == b"1"  # now the most recently used
    cache.put(b"4", b"4")
    assert len(cache) == 3
    assert cache.get(b"2") is None
    assert [cache.get(k) for k in (b"1", b"3", b"4")] == [b"1", b"3", b"4"]


def test_size_zero_disables_the_cache() -> None:
    cache = ResponseCache(size=0, monotonic=FakeClock())
    cache.put(b"a", b"A")
    assert cache.get(b"a") is None


def _roundtrip(query: dns.message.Message) -> dns.message.Message:
    return dns.message.from_wire(query.to_wire())


def test_only_plain_answers_to_plain_queries_are_cacheable() -> None:
    zone, data = ZoneConfig(Z), StaticZoneData({})
    plain = _roundtrip(dns.message.make_query(HOST, "A", use_edns=0))
    assert cacheable(plain, answer(plain, zone, data))
    nxdomain = _roundtrip(dns.message.make_query(f"nothing.{Z}", "A"))
    assert cacheable(nxdomain, answer(nxdomain, zone, data))
    refused = _roundtrip(dns.message.make_query("example.com", "A"))
    assert not cacheable(refused, answer(refused, zone, data))
    servfail = dns.message.make_response(plain)
    servfail.set_rcode(dns.rcode.SERVFAIL)
    assert not cacheable(plain, servfail)
    # A DNS cookie (a server cookie would depend on the client's address), any EDNS option.
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
    with_cookie = _roundtrip(dns.message.make_query(HOST, "A", use_edns=0, options=[cookie]))
    assert not cacheable(with_cookie, answer(with_cookie, zone, data))
    # TSIG: signed answers depend on keys and time.
    keyring = dns.tsigkeyring.from_text({"key.": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="})
    signed = dns.message.make_query(HOST, "A")
    signed.use_tsig(keyring, keyname="key.")
    parsed = dns.message.from_wire(signed.to_wire(), keyring=keyring)
    assert not cacheable(parsed, answer(dns.message.make_query(HOST, "A"), zone, data))


# --- through the server -----------------------------------------------------------------------


@dataclass
class Served:
    server: DnsServer
    port: int
    sessions: sessionmaker[Session]
    clock: FakeClock


def publish(sessions: sessionmaker[Session], name: str, values: list[str]) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for value in values:
            store.publish_txt(session, name, value, now, now + timedelta(hours=1))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A server on SQLite whose two caches share a fake monotonic clock."""
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.sqlite3'}")
    sessions = session_factory(engine)
    publish(sessions, ACME, ["value-one"])
    publish(sessions, MEDIUM, [f"{TOKEN}{i:02d}" for i in range(12)])  # ~700 bytes
    clock = FakeClock()
    server = DnsServer(ZoneConfig(Z), SqlZoneData(sessions), "127.0.0.1", 0, monotonic=clock)
    with Running(server) as port:
        yield Served(server, port, sessions, clock)
    engine.dispose()


def udp(port: int, wire: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(wire, ("127.0.0.1", port))
        return sock.recv(65535)


def tcp(port: int, wire: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        stream = sock.makefile("rb")
        (size,) = struct.unpack("!H", stream.read(2))
        return bytes(stream.read(size))


def query(name: str, rdtype: str = "A", qid: int = 0x1234, **kwargs: object) -> bytes:
    message = dns.message.make_query(name, rdtype, **kwargs)  # type: ignore[arg-type]
    message.id = qid
    return message.to_wire()


def texts(reply: bytes) -> list[str]:
    return sorted(r.to_text() for rrset in dns.message.from_wire(reply).answer for r in rrset)


def test_a_hit_is_the_same_answer_with_the_new_id(served: Served) -> None:
    cache = served.server.udp_cache
    first = udp(served.port, query(HOST, qid=0x1111))
    hits = cache.hits
    second = udp(served.port, query(HOST, qid=0x2222))
    assert cache.hits == hits + 1
    assert second[:2] == b"\x22\x22" and first[:2] == b"\x11\x11"
    assert second[2:] == first[2:]
    assert texts(second) == ["192.168.1.5"]
    # TCP has its own cache, with the same answer here (nothing to truncate).
    over_tcp = tcp(served.port, query(HOST, qid=0x3333))
    assert over_tcp[:2] == b"\x33\x33" and over_tcp[2:] == first[2:]
    assert tcp(served.port, query(HOST, qid=0x4444))[2:] == first[2:]
    assert served.server.tcp_cache.hits == 1


def test_case_variants_share_an_entry_and_get_their_own_case_back(served: Served) -> None:
    port, cache = served.port, served.server.udp_cache
    lower = udp(port, query(HOST, qid=1))
    assert len(cache) == 1
    hits = cache.hits
    for qid, asked in enumerate([HOST.upper(), HOST.replace("abcd", "AbCd"), f"{HOST[:-4]}TEST"]):
        reply = udp(port, query(asked, qid=qid))
        assert dns.message.from_wire(reply).question[0].name.to_text() == f"{asked}."
        # Everything but the question's letters is the stored answer (pointers, not letters).
        assert reply[2:].lower() == lower[2:].lower() and reply[2:] != lower[2:]
        assert texts(reply) == ["192.168.1.5"]
    assert cache.hits == hits + 3 and len(cache) == 1
    # The same bytes as an uppercase query made in the same way by dnspython's reference.
    reference = answer(
        dns.message.from_wire(query(HOST.upper())), ZoneConfig(Z), StaticZoneData({})
    )
    assert udp(port, query(HOST.upper()))[2:] == reference.to_wire()[2:]


def test_type_and_edns_size_are_separate_entries(served: Served) -> None:
    port, cache = served.port, served.server.udp_cache
    assert texts(udp(port, query(HOST))) == ["192.168.1.5"]
    aaaa = dns.message.from_wire(udp(port, query(HOST, "AAAA")))
    assert aaaa.answer == [] and aaaa.rcode() == dns.rcode.NOERROR  # NODATA, not the A
    # ~700 bytes of TXT: truncated for a 600-byte client, whole for a 1232-byte one.
    small = udp(port, query(MEDIUM, "TXT", use_edns=0, payload=600))
    large = udp(port, query(MEDIUM, "TXT", use_edns=0, payload=1232))
    assert dns.message.from_wire(small).flags & dns.flags.TC
    assert len(texts(large)) == 12
    assert len(cache) == 4
    # Asked again, each gets its own answer back.
    assert udp(port, query(MEDIUM, "TXT", use_edns=0, payload=600))[2:] == small[2:]
    assert udp(port, query(MEDIUM.upper(), "TXT", use_edns=0, payload=600))[2:].lower() == (
        small[2:].lower()
    )
    # Over TCP the same bytes get everything.
    assert len(texts(tcp(port, query(MEDIUM, "TXT", use_edns=0, payload=600)))) == 12


def test_expiry_lets_a_new_txt_value_through(served: Served) -> None:
    port, clock = served.port, served.clock
    asked = query(ACME, "TXT")
    assert texts(udp(port, asked)) == ['"value-one"']
    publish(served.sessions, ACME, ["value-two"])
    clock.now += 0.9
    assert texts(udp(port, asked)) == ['"value-one"']  # the answer and the snapshot still fresh
    # Other bytes for the same name (another case) miss the response cache at 0.9 s and are
    # answered from the snapshot: that answer must expire with the snapshot, not 1 s later.
    other = query(ACME.upper(), "TXT")
    assert texts(udp(port, other)) == ['"value-one"']
    clock.now += 0.1
    assert texts(udp(port, asked)) == ['"value-one"', '"value-two"']
    assert texts(udp(port, other)) == ['"value-one"', '"value-two"']


def test_a_published_value_appears_with_the_real_clock(tmp_path: Path) -> None:
    """The default clock is wired through (the second itself is tested on the fake clock)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.sqlite3'}")
    sessions = session_factory(engine)
    server = DnsServer(ZoneConfig(Z), SqlZoneData(sessions), "127.0.0.1", 0)
    asked = query(ACME, "TXT")  # the very same bytes every time: a cache hit until expiry
    try:
        with Running(server) as port:
            assert texts(udp(port, asked)) == []
            publish(sessions, ACME, ["fresh"])
            deadline = time.monotonic() + 30  # a hang guard, not a bound
            while texts(udp(port, asked)) != ['"fresh"']:
                assert time.monotonic() < deadline, "the new TXT value never appeared"
                time.sleep(0.05)
            assert server.udp_cache.hits > 0
    finally:
        engine.dispose()


def test_malformed_packets_bypass_the_cache(served: Served) -> None:
    port, cache = served.port, served.server.udp_cache
    junk = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x03abc"
    for _ in range(2):
        reply = udp(port, junk)
        assert reply[:2] == b"\xbe\xef" and reply[3] & 0x0F == dns.rcode.FORMERR
    with_cookie = query(HOST, use_edns=0, options=[dns.edns.CookieOption(b"\x01" * 8, b"")])
    assert texts(udp(port, with_cookie)) == ["192.168.1.5"]
    assert texts(udp(port, query("example.com"))) == []  # REFUSED
    assert len(cache) == 0 and cache.hits == 0
    # A response is dropped, not answered from the cache, even when its bytes look familiar.
    assert texts(udp(port, query(HOST))) == ["192.168.1.5"]
    as_response = bytearray(query(HOST))
    as_response[2] |= 0x80  # QR
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(bytes(as_response), ("127.0.0.1", port))
        with pytest.raises(TimeoutError):
            sock.recv(65535)


class Flaky:
    """A database whose reads fail until ``up`` is set."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.up = False
        self.loads = 0

    def load(self) -> dict[str, list[str]]:
        self.loads += 1
        if not self.up:
            raise OSError("database down")
        return self.records


def test_servfail_before_the_first_read_and_one_read_a_second_while_failing() -> None:
    clock = FakeClock()
    data = Flaky({ACME: ["back"]})
    server = DnsServer(ZoneConfig(Z), data, "127.0.0.1", 0, monotonic=clock)
    with Running(server) as port:
        asked = query(ACME, "TXT")
        for _ in range(5):
            assert udp(port, asked)[3] & 0x0F == dns.rcode.SERVFAIL
            other = udp(port, query(f"_acme-challenge.{'b' * 16}.{Z}", "TXT"))
            assert other[3] & 0x0F == dns.rcode.SERVFAIL
        assert texts(udp(port, query(HOST))) == ["192.168.1.5"]
        assert data.loads == 1  # the one at start; no retry before a second has passed
        data.up = True
        clock.now += 1.0
        assert texts(udp(port, asked)) == ['"back"']  # the SERVFAILs were not kept
        assert data.loads == 2


class Slow:
    """A database that takes 0.3 s per read and counts them."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.loads = 0

    def load(self) -> dict[str, list[str]]:
        self.loads += 1
        time.sleep(0.3)
        return self.records


def test_queries_for_many_names_share_one_read() -> None:
    data = Slow({ACME: ["shared"]})
    server = DnsServer(ZoneConfig(Z), data, "127.0.0.1", 0, monotonic=FakeClock())
    names = [ACME, *(f"_acme-challenge.{c * 16}.{Z}" for c in "bcdefghij")]
    with Running(server) as port, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for qid in range(20):
            sock.sendto(query(names[qid % 10], "TXT", qid=qid), ("127.0.0.1", port))
        replies = {int.from_bytes(r[:2], "big"): r for r in (sock.recv(65535) for _ in range(20))}
    assert sorted(replies) == list(range(20))
    assert all(texts(r) == (['"shared"'] if q % 10 == 0 else []) for q, r in replies.items())
    assert data.loads == 1


class Stuck:
    """A database that answers once, then hangs (a lost connection) until released."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.loads = 0
        self.release = threading.Event()

    def load(self) -> dict[str, list[str]]:
        self.loads += 1
        if self.loads > 1:
            self.release.wait(10)
        return self.records


def test_a_hanging_database_delays_questions_at_most_max_wait() -> None:
    clock = FakeClock()
    data = Stuck({ACME: ["old"]})
    server = DnsServer(ZoneConfig(Z), data, "127.0.0.1", 0, monotonic=clock, txt_max_wait=0.1)
    try:
        with Running(server) as port:
            assert texts(udp(port, query(ACME, "TXT"))) == ['"old"']
            clock.now += 1.0
            # The read hangs until released (never, in this test): the question is answered
            # from the last snapshot once its wait is over, the read still hanging.
            assert texts(udp(port, query(ACME, "TXT", qid=2))) == ['"old"']
            assert texts(tcp(port, query(ACME, "TXT", qid=3))) == ['"old"']
            assert not data.release.is_set() and data.loads == 2
            # Later questions wait no longer than that and start no second read.
            assert texts(udp(port, query(ACME.upper(), "TXT"))) == ['"old"']
            assert data.loads == 2
            assert len(server.udp_cache) == 0  # answers from a stale snapshot are not kept
    finally:
        data.release.set()
