"""TCP slots: one client cannot hold them all; an over-share client's idle connections go first.

The policy on its own (no sockets), then through the server with real connections from two
loopback addresses (127.0.0.1 and 127.0.0.2 are two clients).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.message
import pytest

from boxcert.dns.answer import StaticZoneData, ZoneConfig
from boxcert.dns.server import DnsServer
from boxcert.dns.tcpslots import Slot, TcpSlots, client_key
from tests.dns_running import Running

Z = "iot.boxcert.test"
HOST = f"192-168-1-5.abcdefghijklmnop.{Z}"


class Conn:
    """A connection as the policy sees it: closed when told."""

    def __init__(self, slots: TcpSlots, client: str) -> None:
        self.closed = False
        self.slot: Slot | None = slots.admit(client, self.close)

    def close(self) -> None:
        self.closed = True


def open_many(slots: TcpSlots, client: str, count: int) -> list[Conn]:
    return [Conn(slots, client) for _ in range(count)]


def test_a_client_at_its_share_loses_its_longest_idle_connection() -> None:
    slots = TcpSlots(total=10, per_client=3)
    a1, a2, a3 = open_many(slots, "a", 3)
    assert a1.slot and a2.slot and a3.slot
    a1.slot.busy()
    a1.slot.idle()  # a1 used again: now a2 is the one idle the longest
    a4 = Conn(slots, "a")
    assert a4.slot is not None and a2.closed and not a1.closed and not a3.closed
    assert slots.held("a") == 3 and slots.taken == 3


def test_a_busy_connection_is_never_cut() -> None:
    slots = TcpSlots(total=10, per_client=2)
    a1, a2 = open_many(slots, "a", 2)
    assert a1.slot and a2.slot
    a1.slot.busy()
    a2.slot.busy()
    assert Conn(slots, "a").slot is None  # both in the middle of a query: refused
    assert not a1.closed and not a2.closed and slots.refused == 1
    a2.slot.idle()
    assert Conn(slots, "a").slot is not None and a2.closed


def test_when_full_the_client_holding_the_most_gives_way() -> None:
    slots = TcpSlots(total=6, per_client=4)
    a = open_many(slots, "a", 4)
    b = open_many(slots, "b", 2)
    assert slots.taken == 6
    c = [Conn(slots, "c")]
    assert c[0].slot is not None
    assert [x.closed for x in a] == [True, False, False, False]  # a's longest idle
    assert not any(x.closed for x in b)
    c.append(Conn(slots, "c"))  # a holds 3, c 1: a again
    assert c[1].slot is not None and a[1].closed
    # Now a, b and c hold 2 each: nobody holds more than c, so c's new connection costs c
    # its own longest idle one.
    c.append(Conn(slots, "c"))
    assert c[2].slot is not None and c[0].closed and not any(x.closed for x in b)
    assert (slots.held("a"), slots.held("b"), slots.held("c")) == (2, 2, 2)
    d = Conn(slots, "d")  # d holds none: the longest idle of those holding the most
    assert d.slot is not None and a[2].closed
    assert slots.taken == 6 and slots.closed_for_room == 4


def test_when_full_a_client_that_holds_as_much_as_anyone_only_replaces_its_own() -> None:
    slots = TcpSlots(total=4, per_client=4)
    conns = {client: Conn(slots, client) for client in "abcd"}
    e = Conn(slots, "e")  # e holds none, a holds one: a's connection goes
    assert e.slot is not None and conns["a"].closed
    assert e.slot is not None
    e.slot.busy()
    again = Conn(slots, "e")  # e holds one, busy; nobody holds more: refused
    assert again.slot is None and slots.refused == 1
    e.slot.idle()
    assert Conn(slots, "e").slot is not None and e.closed  # its own idle one makes room
    assert slots.held("e") == 1 and slots.taken == 4


def test_release_is_idempotent_and_frees_the_slot() -> None:
    slots = TcpSlots(total=2, per_client=2)
    a1, a2 = open_many(slots, "a", 2)
    assert a1.slot and a2.slot
    slots.release(a1.slot)
    slots.release(a1.slot)
    a1.slot.idle()  # late calls from a closing connection change nothing
    assert slots.taken == 1 and slots.held("a") == 1
    assert Conn(slots, "b").slot is not None and not a2.closed


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("not an address", "not an address"),
    ],
)
def test_client_keys(host: str, key: str) -> None:
    assert client_key(host) == key


# --- through the server -----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[DnsServer, int]]:
    server = DnsServer(
        ZoneConfig(Z),
        StaticZoneData({}),
        "127.0.0.1",
        0,
        max_tcp_clients=6,
        max_tcp_per_client=4,
        tcp_idle_timeout=60,  # longer than the test: only the slot policy closes connections
    )
    with Running(server) as port:
        yield server, port


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def ask(sock: socket.socket) -> str:
    query = dns.message.make_query(HOST, "A").to_wire()
    sock.sendall(struct.pack("!H", len(query)) + query)
    stream = sock.makefile("rb")
    (size,) = struct.unpack("!H", stream.read(2))
    return str(dns.message.from_wire(stream.read(size)).answer[0][0])


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed it (a hang guard of 5 s, never a time bound)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_one_client_keeping_its_connections_busy_cannot_lock_others_out(
    server: tuple[DnsServer, int],
) -> None:
    dns_server, port = server
    mine = [connect(port) for _ in range(4)]
    for sock in mine:  # each asks now and then, as the attack did: every slot stays in use
        assert ask(sock) == "192.168.1.5"
    fifth = connect(port)  # over its share: its longest idle connection makes room
    assert ask(fifth) == "192.168.1.5"
    assert closed_by_server(mine[0])
    other = [connect(port, "127.0.0.2") for _ in range(2)]
    for sock in other:
        assert ask(sock) == "192.168.1.5"
    # Full now (4 + 2): the first client's next connection costs it another of its own.
    sixth = connect(port)
    assert ask(sixth) == "192.168.1.5" and closed_by_server(mine[1])
    # A third client takes a slot from the first (it holds the most), not from the second.
    third = connect(port, "127.0.0.3")
    assert ask(third) == "192.168.1.5"
    assert closed_by_server(mine[2])
    for sock in other:
        assert ask(sock) == "192.168.1.5"
    assert dns_server.tcp_slots.closed_for_room == 3
    for sock in [*mine, fifth, *other, sixth, third]:
        sock.close()
