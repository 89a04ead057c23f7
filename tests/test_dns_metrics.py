"""``boxcert dns serve --metrics-listen`` (dns/metrics.py, dns/counters.py) for real: a server
process asked with ``dig`` and raw datagrams, then ``/metrics`` scraped — each query moved
exactly one count, by protocol, path (cache, fast, full, screen), type and response code;
garbage is counted as dropped and never stops the server; ``/healthz`` reads the zone data;
with ``--workers 2`` the counts of both workers add up."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from boxcert.storage import txt as store
from boxcert.storage.engine import open_engine, session_factory
from boxcert.storage.txt import TxtBase

Z = "iot.boxcert.test"
HOST = f"192-168-1-5.abcdefghijklmnop.{Z}"
ACME = f"_acme-challenge.abcdefghijklmnop.{Z}"
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"
HANG_GUARD = 60.0
Counts = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Served:
    port: int
    metrics: str

    def dig(self, *args: str) -> str:
        command = ["dig", "@127.0.0.1", "-p", str(self.port), "+tries=1", "+time=5", *args]
        out = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def scrape(self) -> Counts:
        answer = httpx.get(self.metrics + "/metrics", timeout=HANG_GUARD)
        assert answer.status_code == 200
        found: Counts = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return found


def moved(before: Counts, after: Counts) -> dict[str, float]:
    """What changed between two scrapes, as ``name{label=value,…}``."""
    changes = {}
    for key, value in after.items():
        delta = value - before.get(key, 0.0)
        if delta:
            name, labels = key
            changes[name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"] = delta
    return changes


def q(protocol: str, path: str, qtype: str, rcode: str) -> str:
    return (
        f"boxcert_dns_queries_total{{path={path},protocol={protocol},qtype={qtype},rcode={rcode}}}"
    )


def _database(tmp_path: Path, *, schema: bool = True) -> str:
    url = f"sqlite:///{tmp_path / 'issuer.sqlite3'}"
    if schema:
        engine = open_engine(url)
        TxtBase.metadata.create_all(engine)  # the issuer's migrations would create it
        now = datetime.now(UTC)
        with session_factory(engine).begin() as session:
            store.publish_txt(session, ACME, TOKEN, now, now + timedelta(days=1))
        engine.dispose()
    return url


@contextmanager
def serving(tmp_path: Path, *args: str, schema: bool = True) -> Iterator[Served]:
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    url = _database(tmp_path, schema=schema)
    command = [sys.executable, "-c", code, "serve", "--zone", Z, "--db", url]
    command += ["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", *args]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        text = "".join(lines)
        port = re.search(r"dns: serving \S+ on 127\.0\.0\.1:(\d+)", text)
        metrics = re.search(r"dns: metrics and health on (http://127\.0\.0\.1:\d+)/metrics", text)
        assert port and metrics, text
        yield Served(int(port.group(1)), metrics.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _datagram(port: int, payload: bytes, answer: bool) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5 if not answer else HANG_GUARD)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_each_query_moves_one_count(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        before = served.scrape()
        plain = ("+nocookie", "+noedns")
        assert "192.168.1.5" in served.dig(*plain, HOST, "A")  # fast path
        assert "192.168.1.5" in served.dig(*plain, HOST, "A")  # the cache
        assert "192.168.1.5" in served.dig(HOST, "A")  # a DNS cookie: the full path
        assert TOKEN in served.dig(*plain, ACME, "TXT")  # fast path
        assert "NXDOMAIN" in served.dig(*plain, "+tcp", f"nope.{Z}", "AAAA")  # fast, TCP
        assert "NOERROR" in served.dig(*plain, Z, "SOA")  # full path, type other
        assert "REFUSED" in served.dig(*plain, "example.com", "A")  # not our zone: fast
        after = served.scrape()
    assert moved(before, after) == {
        q("udp", "fast", "A", "NOERROR"): 1,
        q("udp", "cache", "A", "NOERROR"): 1,
        q("udp", "full", "A", "NOERROR"): 1,
        q("udp", "fast", "TXT", "NOERROR"): 1,
        q("tcp", "fast", "AAAA", "NXDOMAIN"): 1,
        q("udp", "full", "other", "NOERROR"): 1,
        q("udp", "fast", "A", "REFUSED"): 1,
    }


def test_garbage_is_counted_and_stops_nothing(tmp_path: Path) -> None:
    query = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x01a\x00\x00\x01\x00\x01"
    two_questions = query[:4] + b"\x00\x02" + query[6:] + query[12:]
    unparsable = query[:12] + b"\x3f" + b"x" * 10  # a label running past the end
    with serving(tmp_path) as served:
        before = served.scrape()
        assert _datagram(served.port, b"\x00" * 5, answer=False) is None  # too short
        assert _datagram(served.port, b"\x12\x34\x81\x00" + bytes(8), answer=False) is None
        formerr = _datagram(served.port, two_questions, answer=True)
        assert formerr is not None and formerr[3] & 0x0F == 1
        bad = _datagram(served.port, unparsable, answer=True)
        assert bad is not None and bad[3] & 0x0F == 1
        assert "192.168.1.5" in served.dig("+nocookie", HOST, "A")  # still serving
        after = served.scrape()
    changes = moved(before, after)
    assert changes.pop("boxcert_dns_dropped_total{reason=garbage}") == 2
    assert (
        changes.pop(q("udp", "screen", "other", "FORMERR"))
        + changes.pop(q("udp", "full", "other", "FORMERR"), 0)
        == 2
    )
    assert changes == {q("udp", "fast", "A", "NOERROR"): 1}


def test_healthz_reads_the_zone_data(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        answer = httpx.get(served.metrics + "/healthz", timeout=HANG_GUARD)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "zone": Z, "checks": {"zone_data": "ok"}}
    with serving(tmp_path / "empty", schema=False) as served:  # no issuer made the table yet
        answer = httpx.get(served.metrics + "/healthz", timeout=HANG_GUARD)
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["zone_data"]
    assert "sqlite" not in answer.text and str(tmp_path) not in answer.text


def test_workers_add_up(tmp_path: Path) -> None:
    """Two workers: every dig is a new client socket, so the kernel spreads them over both
    (all 40 on one worker: one chance in 2^39); the scrape, answered by worker 0, counts all."""
    with serving(tmp_path, "--workers", "2") as served:
        before = served.scrape()
        for _ in range(40):
            assert "192.168.1.5" in served.dig("+nocookie", HOST, "A")
        after = served.scrape()
    changes = moved(before, after)
    answered = sum(changes.get(q("udp", path, "A", "NOERROR"), 0) for path in ("fast", "cache"))
    assert answered == 40
    assert set(changes) <= {q("udp", "fast", "A", "NOERROR"), q("udp", "cache", "A", "NOERROR")}


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        code = "from boxcert.dns.cli import dns_group; dns_group()"
        command = [sys.executable, "-c", code, "serve", "--db", _database(tmp_path)]
        command += ["--listen", "127.0.0.1:0", "--metrics-listen", f"127.0.0.1:{port}"]
        out = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD)
    finally:
        taken.close()
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert str(port) in out.stderr


@pytest.mark.parametrize("text", ["nowhere", "127.0.0.1:99999"])
def test_a_bad_metrics_address_is_one_line(tmp_path: Path, text: str) -> None:
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    command = [sys.executable, "-c", code, "serve", "--db", _database(tmp_path)]
    out = subprocess.run(
        [*command, "--metrics-listen", text], capture_output=True, text=True, timeout=HANG_GUARD
    )
    assert out.returncode == 2 and "--metrics-listen" in out.stderr
    assert "Traceback" not in out.stderr
