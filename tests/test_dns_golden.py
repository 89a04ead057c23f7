"""Golden exchanges: captured `dig` queries get the captured answers, byte for byte, from the
answer function and from the running server (first asked, then from its cache)."""

from __future__ import annotations

import socket

import dns.message
import pytest

from boxcert.dns.answer import EDNS_PAYLOAD, answer, encode
from boxcert.dns.server import DnsServer
from tests.dns_golden import DATA, DIGS, TCP_TOO, ZONE, Exchange, load, tcp_exchange
from tests.dns_running import Running

EXCHANGES = load()


def test_every_listed_query_was_captured() -> None:
    assert {e.name for e in EXCHANGES} == set(DIGS)
    assert [e.name for e in EXCHANGES if e.transport == "tcp"] == [TCP_TOO[0]]


def _reference(wire: bytes, transport: str) -> bytes:
    query = dns.message.from_wire(wire)
    if transport == "tcp":
        size = 65535
    elif query.edns < 0:
        size = 512
    else:
        size = max(512, min(query.payload, EDNS_PAYLOAD))
    return encode(answer(query, ZONE, DATA), size)


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: f"{e.name}-{e.transport}")
def test_the_answer_function_gives_the_captured_bytes(exchange: Exchange) -> None:
    assert _reference(exchange.query, exchange.transport).hex() == exchange.response.hex()


def _udp(port: int, wire: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)  # a hang guard
        sock.sendto(wire, ("127.0.0.1", port))
        return sock.recv(65535)


def _with_id(wire: bytes, qid: int) -> bytes:
    return qid.to_bytes(2, "big") + wire[2:]


def test_the_running_server_gives_the_captured_bytes() -> None:
    server = DnsServer(ZONE, DATA, "127.0.0.1", 0, monotonic=lambda: 0.0)
    with Running(server) as port:
        for _round in ("first", "cached"):
            for e in EXCHANGES:
                send = _udp if e.transport == "udp" else tcp_exchange
                assert send(port, e.query).hex() == e.response.hex(), (e.name, _round)
                # Another id: the same answer under that id.
                again = send(port, _with_id(e.query, 0x0F0F))
                assert again.hex() == _with_id(e.response, 0x0F0F).hex(), (e.name, _round)
