"""The DNS server for real: bound on loopback, asked by `dig`, fed garbage, read from SQLite."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from boxcert.dns.answer import StaticZoneData, ZoneConfig
from boxcert.dns.cli import dns_group
from boxcert.dns.server import DnsServer, SqlZoneData
from boxcert.issuer.db import open_engine, session_factory
from boxcert.storage import txt as store
from tests.dns_running import Running
from tests.postgres import pg_bin, postgres_cluster

DIG = shutil.which("dig")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DIG is None, reason="dig (Debian package dnsutils) is not installed"),
]

Z = "iot.boxcert.test"
L = "abcdefghijklmnop"
ACME = f"_acme-challenge.{L}.{Z}"
BIG = f"_acme-challenge.qrstuvwxyz234567.{Z}"
MEDIUM = f"_acme-challenge.aaaaaaaaaaaaaaaa.{Z}"
HOST = f"192-168-1-5.{L}.{Z}"
NOW = datetime.now(UTC)
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"  # 43 characters, like a DNS-01 digest


def publish(sessions: sessionmaker[Session], name: str, values: list[str]) -> None:
    with sessions.begin() as session:
        for value in values:
            store.publish_txt(session, name, value, NOW, NOW + timedelta(hours=1))


class FakeClock:
    """The server's monotonic clock, moved by the test (no test here bounds real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HANG_GUARD = 30.0  # seconds: only so that a broken server fails the test instead of hanging it


@dataclass
class Served:
    port: int
    sessions: sessionmaker[Session]
    clock: FakeClock


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.sqlite3'}")
    sessions = session_factory(engine)
    publish(sessions, ACME, ["value-one", "value-two"])
    publish(sessions, MEDIUM, [f"{TOKEN}{i:02d}" for i in range(12)])  # ~700 bytes
    publish(sessions, BIG, [f"{TOKEN}{i:02d}" for i in range(40)])  # ~2,300 bytes
    clock = FakeClock()
    server = DnsServer(
        ZoneConfig(Z), SqlZoneData(sessions), "127.0.0.1", 0, tcp_idle_timeout=0.5, monotonic=clock
    )
    with Running(server) as port:
        yield Served(port, sessions, clock)
    engine.dispose()


@dataclass
class Dig:
    status: str
    flags: set[str]
    answers: list[tuple[str, str, str]]  # (name, type, rdata)
    out: str


def dig(port: int, *args: str) -> Dig:
    assert DIG is not None
    out = subprocess.run(
        [
            DIG,
            "@127.0.0.1",
            "-p",
            str(port),
            "+time=2",
            "+tries=1",
            "+noall",
            "+answer",
            "+comments",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; flags: ([a-z ]*);", out)
    answers = []
    for line in out.splitlines():
        if line and not line.startswith(";"):
            name, _ttl, _cls, rdtype, rdata = line.split(None, 4)
            answers.append((name, rdtype, rdata))
    return Dig(
        status=status.group(1) if status else "NO ANSWER",
        flags=set(flags.group(1).split()) if flags else set(),
        answers=answers,
        out=out,
    )


def short(port: int, *args: str) -> list[str]:
    assert DIG is not None
    out = subprocess.run(
        [DIG, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", "+short", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return sorted(out.split())


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_answers_over_udp_and_tcp(served: Served, transport: str) -> None:
    port = served.port
    a = dig(port, HOST, "A", transport)
    assert a.status == "NOERROR" and a.answers == [(f"{HOST}.", "A", "192.168.1.5")]
    assert "aa" in a.flags and "ra" not in a.flags
    assert short(port, f"fd00--1.{L}.{Z}", "AAAA", transport) == ["fd00::1"]
    assert short(port, ACME, "TXT", transport) == ['"value-one"', '"value-two"']
    assert short(port, Z, "NS", transport) == [f"ns1.{Z}."]
    soa = dig(port, Z, "SOA", transport)
    assert soa.answers == [(f"{Z}.", "SOA", f"ns1.{Z}. hostmaster.{Z}. 1 3600 600 1209600 60")]
    anything = dig(port, Z, "ANY", transport)
    assert [t for _, t, _ in anything.answers] == ["SOA"]


def test_negative_answers(served: Served) -> None:
    port = served.port
    nodata = dig(port, HOST, "AAAA", "+authority")
    assert nodata.status == "NOERROR" and "aa" in nodata.flags
    assert [t for _, t, _ in nodata.answers] == ["SOA"]  # +authority prints it with answers
    nxdomain = dig(port, f"nothing.{Z}", "A", "+authority")
    assert nxdomain.status == "NXDOMAIN" and "aa" in nxdomain.flags
    assert [t for _, t, _ in nxdomain.answers] == ["SOA"]
    public = dig(port, f"8-8-8-8.{L}.{Z}", "A")
    assert public.status == "NXDOMAIN" and public.answers == []


def test_names_outside_the_zone_are_refused(served: Served) -> None:
    for name in ("example.com", "boxcert.test"):
        reply = dig(served.port, name, "A")
        assert reply.status == "REFUSED"
        assert "aa" not in reply.flags and "ra" not in reply.flags


def test_case_of_the_question_is_echoed(served: Served) -> None:
    asked = HOST.upper().replace("BOXCERT", "BoxCert")
    reply = dig(served.port, asked, "A")
    assert reply.answers == [(f"{asked}.", "A", "192.168.1.5")]


def test_big_answer_is_truncated_over_udp_and_complete_over_tcp(served: Served) -> None:
    truncated = dig(served.port, BIG, "TXT", "+ignore")
    assert truncated.status == "NOERROR"
    assert "tc" in truncated.flags and truncated.answers == []
    # dig retries over TCP on TC by default; so does every resolver.
    assert len(short(served.port, BIG, "TXT")) == 40
    assert len(short(served.port, BIG, "TXT", "+tcp")) == 40


def test_udp_size_follows_the_clients_edns_payload(served: Served) -> None:
    port = served.port
    assert "tc" not in dig(port, MEDIUM, "TXT", "+ignore").flags  # dig offers 1232
    assert "tc" in dig(port, MEDIUM, "TXT", "+ignore", "+noedns").flags  # 512 without EDNS
    assert "tc" in dig(port, MEDIUM, "TXT", "+ignore", "+bufsize=600").flags
    assert len(short(port, MEDIUM, "TXT", "+noedns")) == 12


def test_txt_values_published_later_appear_within_a_second(served: Served) -> None:
    name = f"_acme-challenge.bbbbbbbbbbbbbbbb.{Z}"
    assert short(served.port, name, "TXT") == []  # now cached as empty
    publish(served.sessions, name, ["fresh"])
    served.clock.now = 1000.999  # the snapshot was read at 1000.0
    assert short(served.port, name, "TXT") == []  # the snapshot is still fresh
    served.clock.now = 1001.0
    assert short(served.port, name, "TXT") == ['"fresh"']  # one read later


def _udp(port: int, payload: bytes, wait: float = 0.5) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_garbage_over_udp_is_dropped_or_formerr(served: Served) -> None:
    port = served.port
    rng = random.Random(7)
    assert _udp(port, b"") is None
    assert _udp(port, b"\x12\x34\x01") is None  # shorter than a header: dropped
    # A header announcing a question that is not there: FORMERR with the same id.
    reply = _udp(port, struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x03abc")
    assert reply is not None
    assert reply[:2] == b"\xbe\xef" and reply[3] & 0x0F == dns.rcode.FORMERR
    assert reply[2] & 0x80  # QR
    # A response is never answered (no reflection loops).
    response = dns.message.make_response(dns.message.make_query(HOST, "A")).to_wire()
    assert _udp(port, response) is None
    for _ in range(200):
        _udp(port, rng.randbytes(rng.randrange(0, 600)), wait=0.01)
    assert short(port, HOST, "A") == ["192.168.1.5"]


def test_garbage_over_tcp_does_not_stop_the_server(served: Served) -> None:
    port = served.port
    rng = random.Random(11)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        junk = struct.pack("!HHHHHH", 0x0102, 0x0100, 1, 0, 0, 0) + rng.randbytes(20)
        sock.sendall(struct.pack("!H", len(junk)) + junk)
        size = struct.unpack("!H", sock.recv(2))[0]
        reply = sock.recv(size)
        assert reply[:2] == b"\x01\x02" and reply[3] & 0x0F == dns.rcode.FORMERR
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(rng.randbytes(rng.randrange(1, 300)))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x00")  # half a length prefix, then gone
    assert short(port, HOST, "A", "+tcp") == ["192.168.1.5"]


def test_several_queries_on_one_tcp_connection(served: Served) -> None:
    queries = [dns.message.make_query(HOST, "A"), dns.message.make_query(ACME, "TXT")]
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"".join(q.to_wire(prepend_length=True) for q in queries))
        stream = sock.makefile("rb")
        replies = []
        for _ in queries:
            size = struct.unpack("!H", stream.read(2))[0]
            replies.append(dns.message.from_wire(stream.read(size)))
    assert [r.id for r in replies] == [q.id for q in queries]
    assert replies[0].answer[0][0].to_text() == "192.168.1.5"
    assert len(replies[1].answer[0]) == 2


def test_idle_tcp_connection_is_closed(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=HANG_GUARD) as sock:
        assert sock.recv(1) == b""  # closed by the server after the idle timeout (0.5 s here)


class Broken(StaticZoneData):
    def load(self) -> dict[str, list[str]]:
        raise OSError("database down")


def test_data_failure_is_servfail_and_the_server_goes_on() -> None:
    server = DnsServer(ZoneConfig(Z), Broken({}), "127.0.0.1", 0)
    with Running(server) as port:
        for transport in ("+notcp", "+tcp"):
            failed = dig(port, ACME, "TXT", transport)
            assert failed.status == "SERVFAIL" and failed.answers == []
        assert short(port, HOST, "A") == ["192.168.1.5"]
        assert dig(port, f"_acme-challenge.bbbbbbbbbbbbbbbb.{Z}", "TXT").status == "SERVFAIL"


def _reads_of_txt_records(engine: Engine) -> list[str]:
    """Every statement on ``txt_records`` the engine runs from now on (a real count, no mock)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "txt_records" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements


def test_many_random_challenge_names_cost_one_read_a_second(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.sqlite3'}")
    sessions = session_factory(engine)
    publish(sessions, ACME, ["the-one"])
    reads = _reads_of_txt_records(engine)
    rng = random.Random(53)

    def random_names(count: int) -> list[str]:
        alphabet = "abcdefghijklmnopqrstuvwxyz234567"
        return [f"_acme-challenge.{''.join(rng.choices(alphabet, k=16))}.{Z}" for _ in range(count)]

    clock = FakeClock()
    server = DnsServer(ZoneConfig(Z), SqlZoneData(sessions), "127.0.0.1", 0, monotonic=clock)
    try:
        with Running(server) as port, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(HANG_GUARD)

            def ask_all(names: list[str]) -> None:
                for i, name in enumerate(names):
                    query = dns.message.make_query(name, "TXT", id=i)
                    sock.sendto(query.to_wire(), ("127.0.0.1", port))
                    reply = dns.message.from_wire(sock.recv(65535))
                    assert reply.id == i and reply.rcode() == dns.rcode.NOERROR
                    assert bool(reply.answer) == (name == ACME)

            ask_all([*random_names(500), ACME])
            assert len(reads) == 1  # the read when the server started
            clock.now += 0.5
            ask_all([*random_names(500), ACME])
            assert len(reads) == 1
            clock.now += 0.5  # a second after the first read: the next question reads again
            ask_all([*random_names(500), ACME])
            assert len(reads) == 2
    finally:
        engine.dispose()


def test_the_last_snapshot_is_served_while_the_database_fails(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'issuer.sqlite3'}")
    sessions = session_factory(engine)
    publish(sessions, ACME, ["kept"])
    clock = FakeClock()
    server = DnsServer(ZoneConfig(Z), SqlZoneData(sessions), "127.0.0.1", 0, monotonic=clock)
    try:
        with Running(server) as port:
            assert short(port, ACME, "TXT") == ['"kept"']
            with engine.begin() as conn:  # every read fails from now on
                conn.exec_driver_sql("ALTER TABLE txt_records RENAME TO txt_records_away")
            clock.now += 1.0  # the snapshot is stale: the next question reads, and fails
            for _ in range(3):
                assert short(port, ACME, "TXT") == ['"kept"']
                assert short(port, f"_acme-challenge.bbbbbbbbbbbbbbbb.{Z}", "TXT") == []
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE txt_records_away RENAME TO txt_records")
            publish(sessions, ACME, ["new"])
            assert short(port, ACME, "TXT") == ['"kept"']  # no read before a second has passed
            clock.now += 1.0
            assert short(port, ACME, "TXT") == ['"kept"', '"new"']
    finally:
        engine.dispose()


def test_ipv6_listener() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    server = DnsServer(ZoneConfig(Z), StaticZoneData({}), "::1", 0)
    try:
        running = Running(server)
        port = running.__enter__()
    except OSError as err:
        pytest.skip(f"cannot bind ::1: {err}")
    try:
        assert DIG is not None
        out = subprocess.run(
            [DIG, "@::1", "-p", str(port), "+short", "+time=2", "+tries=1", HOST, "A"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        assert out.split() == ["192.168.1.5"]
    finally:
        running.__exit__(None, None, None)


@contextlib.contextmanager
def cli_server(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``boxcert dns serve ARGS --listen 127.0.0.1:0`` in a subprocess, and its port."""
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", *args, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(
            rf"dns: serving {re.escape(Z)} on 127\.0\.0\.1:(\d+) \(udp\+tcp\)\n", line
        )
        assert match, line
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'issuer.sqlite3'}"
    engine = open_engine(url)  # the issuer's migration, as in a deployment
    publish(session_factory(engine), ACME, ["from-the-cli"])
    engine.dispose()
    ns = ["--ns", f"ns1.{Z}", "--ns", f"ns2.{Z}", "--ns-address", "192.0.2.53"]
    with cli_server("--db", url, *ns) as (proc, port):
        assert short(port, ACME, "TXT") == ['"from-the-cli"']
        assert short(port, Z, "NS") == [f"ns1.{Z}.", f"ns2.{Z}."]
        assert short(port, f"ns2.{Z}", "A") == ["192.0.2.53"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_cli_starts_on_an_empty_database_and_never_migrates_it(tmp_path: Path) -> None:
    path = tmp_path / "issuer.sqlite3"
    url = f"sqlite:///{path}"
    with cli_server("--db", url) as (proc, port):
        soa = dig(port, Z, "SOA")
        assert soa.status == "NOERROR" and [t for _, t, _ in soa.answers] == ["SOA"]
        assert short(port, HOST, "A") == ["192.168.1.5"]
        assert dig(port, ACME, "TXT").status == "SERVFAIL"  # no txt_records table yet
        with sqlite3.connect(path) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == []
        # The issuer starts: migrates, publishes. The server picks the table up by itself.
        engine = open_engine(url)
        publish(session_factory(engine), ACME, ["after-migration"])
        engine.dispose()
        deadline = time.monotonic() + HANG_GUARD  # the real clock of a subprocess
        while short(port, ACME, "TXT") != ['"after-migration"']:
            assert time.monotonic() < deadline, "the new table was never read"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


@pytest.mark.parametrize("listen", ["::1:53", "127.0.0.1", "[::1]x", "host:99999"])
def test_cli_rejects_a_bad_listen_address(listen: str) -> None:
    result = CliRunner().invoke(dns_group, ["serve", "--db", "sqlite://", "--listen", listen])
    assert result.exit_code == 2
    assert "Invalid value for '--listen'" in result.output


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries not found")
def test_the_documented_read_only_postgresql_role_is_enough() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "dns.md").read_text()
    grants = re.search(r"```sql\n(.*?)```", docs, re.DOTALL)
    assert grants is not None
    with postgres_cluster() as admin_url:
        dns_url = admin_url.replace("//boxcert@", "//boxcert_dns@")
        reader = open_engine(dns_url, migrate=False)
        clock = FakeClock()
        data = SqlZoneData(session_factory(reader))
        server = DnsServer(ZoneConfig(Z), data, "127.0.0.1", 0, monotonic=clock)
        admin = open_engine(admin_url, migrate=False)
        try:
            with admin.begin() as conn:  # the role exists before the issuer's first start
                conn.exec_driver_sql(grants.group(1).split(";")[0])
            with Running(server) as port:
                assert short(port, Z, "SOA") != []
                assert dig(port, ACME, "TXT").status == "SERVFAIL"  # no table yet
                admin.dispose()
                admin = open_engine(admin_url)  # the issuer starts and migrates
                publish(session_factory(admin), ACME, ["read-only"])
                with admin.begin() as conn:
                    for statement in grants.group(1).split(";")[1:]:
                        if statement.strip():
                            conn.exec_driver_sql(statement.replace("issuer", "boxcert"))
                clock.now += 1.0
                assert short(port, ACME, "TXT") == ['"read-only"']
            with reader.begin() as conn, pytest.raises(Exception, match="permission denied"):
                conn.exec_driver_sql("DELETE FROM txt_records")
        finally:
            reader.dispose()
            admin.dispose()
