"""Golden DNS exchanges: real `dig` queries and our server's answers, byte for byte.

``tests/data/dns_exchanges.json`` holds query/response pairs captured from `dig` through a
recording proxy in front of the running server (the code as it stood before the header screen,
the fast path and the case-insensitive cache). ``tests/test_dns_golden.py`` replays them.

Capture again (only when an answer is meant to change, and say why in the commit):

    .venv/bin/python -m tests.dns_golden
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from boxcert.dns.answer import StaticZoneData, ZoneConfig
from boxcert.dns.server import DnsServer
from tests.dns_running import Running

GOLDEN = Path(__file__).resolve().parent / "data" / "dns_exchanges.json"
Z = "iot.boxcert.test"
L = "abcdefghijklmnop"
HOST = f"192-168-1-5.{L}.{Z}"
ACME = f"_acme-challenge.{L}.{Z}"
BIG = f"_acme-challenge.qrstuvwxyz234567.{Z}"
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"
DATA = StaticZoneData(
    {ACME: ["value-one", "value-two"], BIG: [f"{TOKEN}{i:02d}" for i in range(40)]}
)
ZONE = ZoneConfig(Z)

# name -> dig arguments (every one over UDP; "truncation" is also replayed over TCP)
DIGS: dict[str, list[str]] = {
    "A": ["+nocookie", "+noedns", HOST, "A"],
    "AAAA": ["+nocookie", f"fd00--1.{L}.{Z}", "AAAA"],
    "TXT": ["+nocookie", ACME, "TXT"],
    "NXDOMAIN": ["+nocookie", f"nothing.{Z}", "A"],
    "NXDOMAIN-public-address": ["+nocookie", f"8-8-8-8.{L}.{Z}", "A"],
    "NODATA": ["+nocookie", HOST, "AAAA"],
    "NODATA-holder-label": ["+nocookie", f"{L}.{Z}", "TXT"],
    "REFUSED": ["+nocookie", "example.com", "A"],
    "ANY": ["+nocookie", "+notcp", Z, "ANY"],
    "SOA": ["+nocookie", "+norecurse", Z, "SOA"],
    "EDNS-cookie-do-4096": ["+dnssec", "+bufsize=4096", HOST, "A"],
    "0x20": ["+nocookie", f"192-168-1-5.{L[:8].upper()}{L[8:]}.IoT.BoxCert.TEST", "A"],
    "truncation": ["+nocookie", "+noedns", "+ignore", BIG, "TXT"],
}
TCP_TOO = ("truncation", "TXT")


@dataclass(frozen=True)
class Exchange:
    name: str
    transport: str  # "udp" or "tcp"
    query: bytes
    response: bytes


def load() -> list[Exchange]:
    return [
        Exchange(e["name"], e["transport"], bytes.fromhex(e["query"]), bytes.fromhex(e["response"]))
        for e in json.loads(GOLDEN.read_text())
    ]


def tcp_exchange(port: int, query: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(query)) + query)
        stream = sock.makefile("rb")
        (size,) = struct.unpack("!H", stream.read(2))
        return bytes(stream.read(size))


class _Recorder:
    """A UDP proxy that forwards each datagram to the server and records both directions."""

    def __init__(self, server_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.server_port = server_port
        self.exchanges: list[tuple[bytes, bytes]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                query, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
                upstream.settimeout(5)
                upstream.sendto(query, ("127.0.0.1", self.server_port))
                response = upstream.recv(65535)
            self.exchanges.append((query, response))
            self.sock.sendto(response, client)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def capture() -> list[Exchange]:
    dig = shutil.which("dig")
    assert dig is not None, "dig (dnsutils) is needed to capture"
    captured: list[Exchange] = []
    with Running(DnsServer(ZONE, DATA, "127.0.0.1", 0, monotonic=lambda: 0.0)) as port:
        recorder = _Recorder(port)
        try:
            for name, args in DIGS.items():
                before = len(recorder.exchanges)
                cmd = [dig, "@127.0.0.1", "-p", str(recorder.port), "+tries=1", "+time=2", *args]
                subprocess.run(cmd, capture_output=True, check=True, timeout=30)
                assert len(recorder.exchanges) == before + 1, name
                query, response = recorder.exchanges[-1]
                captured.append(Exchange(name, "udp", query, response))
                if name == TCP_TOO[0]:
                    captured.append(Exchange(name, "tcp", query, tcp_exchange(port, query)))
        finally:
            recorder.close()
    return captured


def main() -> None:
    exchanges = capture()
    GOLDEN.parent.mkdir(exist_ok=True)
    rows = [
        {
            "name": e.name,
            "transport": e.transport,
            "query": e.query.hex(),
            "response": e.response.hex(),
        }
        for e in exchanges
    ]
    GOLDEN.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{len(rows)} exchanges written to {GOLDEN}")


if __name__ == "__main__":
    main()
