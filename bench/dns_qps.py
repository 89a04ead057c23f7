"""DNS queries per second: our server against Knot DNS, same load tool, same answers, one run.

Starts ``boxcert dns serve --workers N`` (SQLite issuer database with one DNS-01 TXT value) and
``knotd`` with N UDP workers (a zone file holding the equivalent static records, the 100,000
distinct names below included) on two loopback ports, checks that both give the same answers,
then runs ``dnsperf`` against each, row by row, and prints one table. Rows:

- ``A``, ``TXT``: one query repeated, as resolvers and boxes repeat the few names they need
  (ours answers them from its response cache);
- ``A-0x20``: the A query in 50,000 random letter cases, as resolvers that randomize case (0x20)
  send it (ours: the case-insensitive response cache, the query's case echoed);
- ``distinct``: 100,000 different IP-in-names (4 in 5 A, 1 in 5 AAAA, under 1,000 holder
  labels), each new to the response cache, as every box's name is the first time and every
  query of a random-subdomain flood is (ours: the fast path).

With ``--runs R`` every cell is measured R times, ours and Knot alternating which goes first;
the table shows the median q/s and the lowest and highest ours/Knot ratio of the runs.

Needs the Debian packages ``knot`` and ``dnsperf``. Everything runs in a temporary directory and
stops by itself (about 2 x rows x runs x --seconds).

    .venv/bin/python bench/dns_qps.py [--seconds 10] [--workers 1] [--runs 1] [--rows A,distinct]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from boxcert import naming
from boxcert.storage import txt as store
from boxcert.storage.engine import open_engine, session_factory
from boxcert.storage.txt import TxtBase

ZONE = "iot.boxcert.test"
LABEL = "abcdefghijklmnop"
HOST = f"192-168-1-5.{LABEL}.{ZONE}"
ACME = f"_acme-challenge.{LABEL}.{ZONE}"
TOKEN = "gfj9Xq-Rz3bKp0LxvW8nQy2oHcT5sE1aU7dIiYkMmNo"
CASE_VARIANTS = 50_000
DISTINCT = 100_000
HOLDERS = 1_000


def random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def distinct_names(rng: random.Random) -> list[tuple[str, str, str]]:
    """(name, type, address) for DISTINCT different host names in the zone."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    holders = ["".join(rng.choices(alphabet, k=16)) for _ in range(HOLDERS)]
    v4 = rng.sample(range(1 << 24), DISTINCT)
    names = []
    for i in range(DISTINCT):
        ip: naming.IPAddress
        if i % 5 == 4:
            ip = ipaddress.IPv6Address((0xFD00 << 112) | rng.getrandbits(64))
        else:
            ip = ipaddress.IPv4Address((10 << 24) | v4[i])
        rdtype = "A" if ip.version == 4 else "AAAA"
        names.append((naming.host_name(ip, holders[i % HOLDERS], ZONE), rdtype, str(ip)))
    return names


@dataclass
class Row:
    name: str
    what: str
    queries: list[str]
    samples: list[tuple[str, str]]  # asked of both servers before timing: same answers
    ours: list[float] = field(default_factory=list)
    knot: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def make_rows() -> tuple[list[Row], list[tuple[str, str, str]]]:
    rng = random.Random(0x20)
    variants = [random_case(HOST, rng) for _ in range(CASE_VARIANTS)]
    distinct = distinct_names(random.Random(12))
    sample = random.Random(3).sample(distinct, 40)
    return [
        Row("A", "one host name, repeated", [f"{HOST} A"], [(HOST, "A")]),
        Row("TXT", "one _acme-challenge name, repeated", [f"{ACME} TXT"], [(ACME, "TXT")]),
        Row(
            "A-0x20",
            f"the host name in {CASE_VARIANTS:,} letter cases",
            [f"{v} A" for v in variants],
            [(v, "A") for v in variants[:20]],
        ),
        Row(
            "distinct",
            f"{DISTINCT:,} different IP-in-names (A, AAAA)",
            [f"{n} {t}" for n, t, _ in distinct],
            [(n, t) for n, t, _ in sample],
        ),
    ], distinct


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

ZONE_HEAD = """\
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
    deadline = time.monotonic() + 30
    while True:
        try:
            response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            return sorted(
                f"{rrset.name.to_text().lower()} {r.to_text()}"
                for rrset in response.answer
                for r in rrset
            )
        except (dns.exception.Timeout, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_ours(tmp: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    url = f"sqlite:///{tmp / 'issuer.sqlite3'}"
    engine = open_engine(url)
    TxtBase.metadata.create_all(engine)  # the issuer's migrations would create it
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        store.publish_txt(session, ACME, TOKEN, now, now + timedelta(days=1))
    engine.dispose()
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    args = ["serve", "--zone", ZONE, "--db", url, "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--workers", str(workers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r":(\d+) \(udp\+tcp", proc.stdout.readline())
    if match is None:
        proc.kill()
        raise SystemExit("our server did not start")
    return proc, int(match.group(1))


def start_knot(
    tmp: Path, workers: int, distinct: list[tuple[str, str, str]]
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    (tmp / "db").mkdir()
    conf = tmp / "knot.conf"
    conf.write_text(KNOT_CONF.format(dir=tmp, port=port, workers=workers, zone=ZONE))
    suffix = f".{ZONE}"
    lines = [
        ZONE_HEAD.format(
            zone=ZONE,
            host=HOST.removesuffix(suffix),
            acme=ACME.removesuffix(suffix),
            token=TOKEN,
        )
    ]
    lines += [f"{n.removesuffix(suffix)} 300 IN {t} {ip}\n" for n, t, ip in distinct]
    (tmp / "zone.txt").write_text("".join(lines))
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    return subprocess.Popen([knotd, "-c", str(conf)], text=True), port


def dnsperf(port: int, data: Path, seconds: int, clients: int) -> tuple[float, str]:
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(data), "-l", str(seconds)]
    cmd += ["-c", str(clients), "-q", "200", "-t", "2"]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
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
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def machine() -> str:
    model = "?"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    knot = subprocess.run(
        [shutil.which("knotd") or "/usr/sbin/knotd", "-V"], capture_output=True, text=True
    ).stdout.strip()
    return f"{os.cpu_count()} CPUs ({model}); {knot}; dnsperf, UDP over loopback"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="our server's processes and knotd's UDP workers (the same number of cores)",
    )
    parser.add_argument("--runs", type=int, default=1, help="measure every cell this many times")
    parser.add_argument("--clients", type=int, default=8, help="dnsperf -c (client sockets)")
    parser.add_argument("--rows", default="A,TXT,A-0x20,distinct", help="rows to measure")
    args = parser.parse_args()
    missing = [
        tool
        for tool in ("knotd", "dnsperf")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install -y knot dnsperf")
    all_rows, distinct = make_rows()
    wanted = args.rows.split(",")
    rows = [r for r in all_rows if r.name in wanted]

    with tempfile.TemporaryDirectory(prefix="dns-bench-") as name:
        tmp = Path(name)
        (tmp / "ours").mkdir()
        (tmp / "knot").mkdir()
        ours, ours_port = start_ours(tmp / "ours", args.workers)
        knot, knot_port = start_knot(tmp / "knot", args.workers, distinct)
        try:
            for row in rows:
                for qname, rdtype in row.samples:
                    mine, theirs = ask(ours_port, qname, rdtype), ask(knot_port, qname, rdtype)
                    if mine != theirs or not mine:
                        raise SystemExit(f"answers differ for {qname} {rdtype}: {mine} vs {theirs}")
                (tmp / f"{row.name}.txt").write_text("\n".join(row.queries) + "\n")
            for run in range(args.runs):
                for row in rows:
                    data = tmp / f"{row.name}.txt"
                    order = [("ours", ours_port), ("knot", knot_port)]
                    for who, port in order if run % 2 == 0 else order[::-1]:
                        qps, lost = dnsperf(port, data, args.seconds, args.clients)
                        (row.ours if who == "ours" else row.knot).append(qps)
                        row.lost.append(f"{who} {lost}")
        finally:
            stop(ours)
            stop(knot)

    print(machine())
    print(
        f"{args.seconds} s per cell, {args.runs} run(s), dnsperf -c {args.clients} -q 200; "
        f"ours --workers {args.workers}, knotd udp-workers {args.workers}"
    )
    print(
        f"{'query':<9} {'ours q/s':>9} {'knot q/s':>9} {'ours/knot':>9} {'spread':>11}"
        f"  {'lost (last run)':<36} what"
    )
    for row in rows:
        ratios = [o / k for o, k in zip(row.ours, row.knot, strict=True)]
        print(
            f"{row.name:<9} {statistics.median(row.ours):>9.0f} "
            f"{statistics.median(row.knot):>9.0f} {statistics.median(ratios):>9.2f} "
            f"{min(ratios):>5.2f}-{max(ratios):<5.2f}  {', '.join(sorted(row.lost[-2:])):<36} "
            f"{row.what}"
        )


if __name__ == "__main__":
    main()
