"""DNS queries per second: our server against Knot DNS, same load tool, same answers.

Starts ``boxcert dns serve`` (SQLite issuer database with one DNS-01 TXT value) and ``knotd``
(a zone file holding the equivalent static records) on two loopback ports, checks that both
give the same answers, then runs ``dnsperf`` against each and prints one table. Rows:

- ``A``, ``TXT``: one query repeated, as resolvers and boxes repeat the few names they need
  (ours answers them from its response cache);
- ``A-0x20``: the A query in 50,000 random letter cases, as resolvers that randomize case
  (0x20) send it; every one misses our cache (it keys on the exact bytes), so this row is what
  parsing and rendering with dnspython cost.

Needs the Debian packages ``knot`` and ``dnsperf``. Everything runs in a temporary directory and
stops by itself (about 6 x --seconds).

    .venv/bin/python bench/dns_qps.py [--seconds 10] [--knot-workers 1]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from boxcert.issuer.db import open_engine, session_factory
from boxcert.storage import txt as store

ZONE = "iot.boxcert.test"
LABEL = "abcdefghijklmnop"
HOST = f"192-168-1-5.{LABEL}.{ZONE}"
ACME = f"_acme-challenge.{LABEL}.{ZONE}"
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"
CASE_VARIANTS = 50_000  # > the response cache's 10,000 entries: every query is a miss


def random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


_rng = random.Random(0x20)
QUERIES = {
    "A": [f"{HOST} A"],
    "TXT": [f"{ACME} TXT"],
    "A-0x20": [f"{random_case(HOST, _rng)} A" for _ in range(CASE_VARIANTS)],
}

KNOT_CONF = """\
server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
    udp-workers: {workers}
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{dir}/db"
control:
    listen: "{dir}/knot.sock"
log:
  - target: stderr
    any: error
template:
  - id: default
    storage: "{dir}"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: {zone}
    file: "{dir}/zone.txt"
"""

ZONE_FILE = """\
$ORIGIN {zone}.
@        300 IN SOA ns1 hostmaster 1 3600 600 1209600 60
@        300 IN NS  ns1
{host}   300 IN A   192.168.1.5
{acme}   60  IN TXT "{token}"
"""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (racy, good enough on loopback)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def ask(port: int, name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(name, rdtype)
    deadline = time.monotonic() + 10
    while True:
        try:
            response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            return sorted(r.to_text() for rrset in response.answer for r in rrset)
        except (dns.exception.Timeout, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_ours(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    url = f"sqlite:///{tmp / 'issuer.sqlite3'}"
    engine = open_engine(url)
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        store.publish_txt(session, ACME, TOKEN, now, now + timedelta(days=1))
    engine.dispose()
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            "--zone",
            ZONE,
            "--db",
            url,
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r":(\d+) \(udp\+tcp\)", proc.stdout.readline())
    if match is None:
        proc.kill()
        raise SystemExit("our server did not start")
    return proc, int(match.group(1))


def start_knot(tmp: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    (tmp / "db").mkdir()
    conf = tmp / "knot.conf"
    conf.write_text(KNOT_CONF.format(dir=tmp, port=port, workers=workers, zone=ZONE))
    host_rel, acme_rel = HOST.removesuffix(f".{ZONE}"), ACME.removesuffix(f".{ZONE}")
    (tmp / "zone.txt").write_text(
        ZONE_FILE.format(zone=ZONE, host=host_rel, acme=acme_rel, token=TOKEN)
    )
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    return subprocess.Popen([knotd, "-c", str(conf)], text=True), port


def dnsperf(port: int, queries: list[str], seconds: int, tmp: Path) -> tuple[float, str]:
    data = tmp / "queries.txt"
    data.write_text("\n".join(queries) + "\n")
    out = subprocess.run(
        [
            "dnsperf",
            "-s",
            "127.0.0.1",
            "-p",
            str(port),
            "-d",
            str(data),
            "-l",
            str(seconds),
            "-c",
            "4",
            "-q",
            "200",
            "-t",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+ \([\d.]+%\))", out)
    if qps is None:
        raise SystemExit(f"cannot read dnsperf's output:\n{out}")
    return float(qps.group(1)), lost.group(1) if lost else "?"


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument(
        "--knot-workers",
        type=int,
        default=1,
        help="knotd UDP workers (1 = one core, like our single event loop)",
    )
    args = parser.parse_args()
    missing = [
        tool
        for tool in ("knotd", "dnsperf")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install -y knot dnsperf")

    with tempfile.TemporaryDirectory(prefix="dns-bench-") as name:
        tmp = Path(name)
        (tmp / "ours").mkdir()
        (tmp / "knot").mkdir()
        ours, ours_port = start_ours(tmp / "ours")
        knot, knot_port = start_knot(tmp / "knot", args.knot_workers)
        try:
            for queries in QUERIES.values():
                qname, rdtype = queries[0].split()
                mine, theirs = ask(ours_port, qname, rdtype), ask(knot_port, qname, rdtype)
                if mine != theirs or not mine:
                    raise SystemExit(f"answers differ for {queries[0]}: {mine} vs {theirs}")
            rows = []
            for row, queries in QUERIES.items():
                ours_qps, ours_lost = dnsperf(ours_port, queries, args.seconds, tmp)
                knot_qps, knot_lost = dnsperf(knot_port, queries, args.seconds, tmp)
                rows.append((row, ours_qps, knot_qps, ours_lost, knot_lost))
        finally:
            stop(ours)
            stop(knot)

    print(
        f"dnsperf, UDP over loopback, {args.seconds} s per cell, "
        f"knotd with {args.knot_workers} UDP worker(s)"
    )
    print(
        f"{'query':<7} {'ours q/s':>10} {'knot q/s':>10} {'ours/knot':>9}  "
        f"{'lost (ours)':>14} {'lost (knot)':>14}"
    )
    for row, ours_qps, knot_qps, ours_lost, knot_lost in rows:
        print(
            f"{row:<7} {ours_qps:>10.0f} {knot_qps:>10.0f} {ours_qps / knot_qps:>9.3f}  "
            f"{ours_lost:>14} {knot_lost:>14}"
        )


if __name__ == "__main__":
    main()
