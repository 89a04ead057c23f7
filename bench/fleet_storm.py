"""A fleet of 100,000 boxes across 1,000 databases against one issuer: first certificates, the
same again from the cache, then 10% of the databases closed.

    .venv/bin/python bench/fleet_storm.py [--boxes 100000] [--databases 1000] [--db sqlite|postgres]
                                          [--workers 2] [--clients 200]

Every box has its own key and CSR, made before any timing starts (and cached in
``.bench-cache/`` between runs: key generation is not what is measured). The issuer runs as
``boxcert issuer serve --ca local`` in its own process(es); this script is the load generator, a
separate process speaking HTTP/1.1 over keep-alive connections with a small client of its own
(an HTTP library would cost more CPU per request than the issuer, on a 2-core machine). Phases:

(a) every box asks for its first certificate;
(b) every box asks again: the issuer answers from its cache;
(c) 10% of the databases have their subscription closed, then every box asks again: exactly
    the boxes of those databases are refused, every other box gets its certificate.

For each phase it prints boxes/s, p50/p99 latency and errors (anything but the expected grant
or refusal), and at the end the number of certificates per box key in the issuer's database
(exactly one each: no duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import uvloop  # noqa: E402

from boxcert import devstack, naming, pki  # noqa: E402
from boxcert.issuer.hotcache import STALE_BOUND  # noqa: E402

ZONE = naming.DEFAULT_ZONE
CACHE = REPO / ".bench-cache"


@dataclass(frozen=True)
class Box:
    db_index: int
    label: str
    body: bytes  # the request, ready to send


def _make_csrs(args: tuple[int, int]) -> list[tuple[str, str]]:
    _start, count = args
    out = []
    for _ in range(count):
        key = pki.make_ec_key()
        label = naming.box_label(pki.spki_der(key.public_key()))
        names = naming.certificate_names(label, ZONE)
        out.append((label, pki.csr_pem(pki.make_csr(key, names))))
    return out


def csrs(count: int) -> list[tuple[str, str]]:
    """``count`` (label, CSR) pairs, made once and kept in .bench-cache (no private keys kept:
    the issuer never sees them, and the bench never installs anything)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"csrs-{count}.pickle"
    larger = sorted(
        (p for p in CACHE.glob("csrs-*.pickle") if int(p.stem.split("-")[1]) >= count),
        key=lambda p: int(p.stem.split("-")[1]),
    )
    if larger:  # a smaller fleet is the start of a larger one
        with larger[0].open("rb") as f:
            cached: list[tuple[str, str]] = pickle.load(f)  # our own cache file
        return cached[:count]
    chunk = 1000
    jobs = [(i, min(chunk, count - i)) for i in range(0, count, chunk)]
    started = time.monotonic()
    with ProcessPoolExecutor() as pool:
        made = [pair for part in pool.map(_make_csrs, jobs) for pair in part]
    print(f"made {count} keys and CSRs in {time.monotonic() - started:.0f} s (not timed below)")
    with path.open("wb") as f:
        pickle.dump(made, f)
    return made


def fleet(count: int, databases: int) -> tuple[list[Box], list[tuple[str, str]]]:
    dbs = [(f"fleet-db-{i:05d}", f"FLEET-CODE-{i:05d}") for i in range(databases)]
    boxes = []
    for n, (label, csr) in enumerate(csrs(count)):
        db_uuid, code = dbs[n % databases]
        body = {
            "params": {
                "db_uuid": db_uuid,
                "enterprise_code": code,
                "identifier": f"box-{n}",
                "csr": csr,
            }
        }
        boxes.append(Box(n % databases, label, json.dumps(body).encode()))
    return boxes, dbs


# --- the load generator ------------------------------------------------------------------------


@dataclass
class Outcome:
    latency: float
    status: int
    kind: str  # "grant", "refusal:<code>", "error:<what>"


class _Connection(asyncio.Protocol):
    """One keep-alive connection asking for box after box (a Protocol rather than streams:
    the load generator must cost less CPU than the issuer it measures, on the same cores)."""

    def __init__(self, jobs: Iterator[Box], out: list[tuple[Box, Outcome]], host: str) -> None:
        self.jobs = jobs
        self.out = out
        self.host = host
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.box: Box | None = None
        self.started = 0.0
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is not a subclass
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        self.box = next(self.jobs, None)
        if self.box is None:
            self.transport.close()
            return
        self.started = time.perf_counter()
        self.transport.write(
            b"POST /iot/x509 HTTP/1.1\r\nHost: "
            + self.host.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(self.box.body)).encode()
            + b"\r\n\r\n"
            + self.box.body
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        payload = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        status = int(head.split(b" ", 2)[1])
        latency = time.perf_counter() - self.started
        if status != 200:
            kind = f"error:http {status}"
        elif b'"x509_pem"' in payload:
            kind = "grant"
        else:
            try:
                kind = "refusal:" + json.loads(payload)["result"]["error"]["code"]
            except (ValueError, KeyError, TypeError):
                kind = "error:unreadable answer"
        assert self.box is not None
        self.out.append((self.box, Outcome(latency, status, kind)))
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.box is not None:  # the server closed while a request was out
            what = type(exc).__name__ if exc else "closed"
            self.out.append(
                (self.box, Outcome(time.perf_counter() - self.started, 0, f"error:{what}"))
            )
            self.box = None
        if not self.done.done():
            self.done.set_result(None)


async def _worker(
    host: str, port: int, jobs: Iterator[Box], out: list[tuple[Box, Outcome]]
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        connection = _Connection(jobs, out, f"{host}:{port}")
        try:
            await loop.create_connection(lambda c=connection: c, host, port)
        except OSError as err:
            box = next(jobs, None)
            if box is None:
                return
            out.append((box, Outcome(0.0, 0, f"error:{type(err).__name__}")))
            continue
        await connection.done
        # Closed by us when the jobs ran out, or by the server: go on if any are left.
        box = next(jobs, None)
        if box is None:
            return
        jobs = itertools.chain([box], jobs)


def storm(url: str, boxes: list[Box], clients: int) -> tuple[float, list[tuple[Box, Outcome]]]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    out: list[tuple[Box, Outcome]] = []

    async def run() -> None:
        jobs = iter(boxes)  # shared: each connection takes the next box
        await asyncio.gather(*(_worker(host, int(port), jobs, out) for _ in range(clients)))

    started = time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
    return time.perf_counter() - started, out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its children that are running, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def timed_storm(
    url: str, boxes: list[Box], clients: int, issuer_pid: int, server_pid: int | None
) -> tuple[float, list[tuple[Box, Outcome]], float]:
    """:func:`storm`, with the CPU seconds the issuer's processes spent meanwhile (and
    PostgreSQL's, printed)."""
    before, own = cpu_seconds(issuer_pid), time.process_time()
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    elapsed, results = storm(url, boxes, clients)
    generator = time.process_time() - own
    per_box = 1000 / max(1, len(results))
    line = f"    (the load generator: {generator * per_box:.2f} ms CPU a box"
    if server_pid:
        line += f"; PostgreSQL: {(cpu_seconds(server_pid) - server_before) * per_box:.2f}"
    print(line + ")")
    return elapsed, results, cpu_seconds(issuer_pid) - before


def summary(
    name: str,
    elapsed: float,
    results: list[tuple[Box, Outcome]],
    expected: dict[int, str] | None = None,
    cpu: float = 0.0,
) -> dict[str, object]:
    latencies = sorted(o.latency for _, o in results)
    kinds = Counter(o.kind for _, o in results)
    wrong = 0
    for box, outcome in results:
        want = (expected or {}).get(box.db_index, "grant")
        if outcome.kind != want:
            wrong += 1
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    row = {
        "phase": name,
        "boxes": len(results),
        "seconds": round(elapsed, 1),
        "boxes_per_s": round(len(results) / elapsed),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "unexpected": wrong,
        "issuer_cpu_ms_per_box": round(cpu * 1000 / max(1, len(results)), 2),
        "answers": dict(kinds),
        "load": round(os.getloadavg()[0], 2),
    }
    print(
        f"{name:<28} {row['boxes']:>7} boxes in {row['seconds']:>6} s  "
        f"{row['boxes_per_s']:>6} boxes/s  p50 {row['p50_ms']:>7} ms  p99 {row['p99_ms']:>7} ms"
        f"  issuer CPU {row['issuer_cpu_ms_per_box']} ms/box"
        f"  unexpected {wrong}  load {row['load']}  {dict(kinds)}"
    )
    return row


# --- the issuer --------------------------------------------------------------------------------


def register(data_dir: Path, db_url: str | None, dbs: list[tuple[str, str]]) -> list[int]:
    """All databases eligible, in one transaction (the admin CLI would take minutes); returns
    the subscription ids, in the order of ``dbs``."""
    from boxcert.clock import system_clock
    from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
    from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
    from boxcert.issuer.store import accounts, settings

    prepare_data_dir(data_dir, db_url)
    engine = open_engine(database_url(data_dir, db_url))
    ids = []
    with session_factory(engine).begin() as s:
        now = system_clock()
        codes = settings.contract_codes_of(s)
        for db_uuid, code in dbs:
            sub = accounts.add_subscription(
                s, codes, code, SubscriptionState.IN_PROGRESS, [IOT_BOX_LINE], now
            )
            accounts.add_database(s, db_uuid, DatabaseKind.PRODUCTION, sub.id, now)
            ids.append(sub.id)
    engine.dispose()
    return ids


def close(data_dir: Path, db_url: str | None, subscription_ids: list[int]) -> None:
    from boxcert.issuer.db import database_url, open_engine, session_factory
    from boxcert.issuer.models import SubscriptionState
    from boxcert.issuer.store import accounts

    engine = open_engine(database_url(data_dir, db_url))
    with session_factory(engine).begin() as s:
        for sub_id in subscription_ids:
            accounts.set_subscription_state(s, sub_id, SubscriptionState.CLOSED)
    engine.dispose()


def certificates_per_holder(data_dir: Path, db_url: str | None) -> Counter[int]:
    from sqlalchemy import func, select

    from boxcert.issuer.db import database_url, open_engine
    from boxcert.issuer.models import Certificate

    engine = open_engine(database_url(data_dir, db_url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(Certificate).group_by(Certificate.holder_label)
        ).all()
    engine.dispose()
    return Counter(int(n) for (n,) in rows)


@dataclass(frozen=True)
class Database:
    url: str | None  # None: the issuer's own SQLite file
    server_pid: int | None  # PostgreSQL's postmaster, whose children serve the connections


@contextmanager
def database(kind: str) -> Iterator[Database]:
    if kind == "sqlite":
        yield Database(None, None)
        return
    from tests.postgres import running_postgres

    with running_postgres() as cluster:
        yield Database(cluster.url, cluster.server_pid())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--databases", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()

    boxes, dbs = fleet(args.boxes, args.databases)
    per_db = args.boxes // args.databases + 1
    with tempfile.TemporaryDirectory(prefix="boxcert-storm-") as tmp, database(args.db) as db:
        url = db.url
        data_dir = Path(tmp) / "issuer"
        extra = ["--ca", "local", "--max-boxes", str(per_db + 10)]
        if url:
            extra += ["--db", url]
        if args.workers > 1:
            extra += ["--workers", str(args.workers)]
        # The schema first (the issuer migrates at start too; this lets us register first).
        subscription_ids = register(data_dir, url, dbs)
        process, issuer_url = devstack.start_issuer(data_dir, *extra)
        try:
            print(
                f"issuer {issuer_url} ({args.db}, {args.workers} worker(s)); "
                f"{args.boxes} boxes, {args.databases} databases, {args.clients} clients; "
                f"{os.cpu_count()} cores"
            )
            rows = []
            pid = process.proc.pid
            elapsed, results, cpu = timed_storm(issuer_url, boxes, args.clients, pid, db.server_pid)
            rows.append(summary("(a) first certificates", elapsed, results, cpu=cpu))
            elapsed, results, cpu = timed_storm(issuer_url, boxes, args.clients, pid, db.server_pid)
            rows.append(summary("(b) from the cache", elapsed, results, cpu=cpu))
            closed = list(range(0, args.databases, 10))
            close(data_dir, url, [subscription_ids[i] for i in closed])
            time.sleep(STALE_BOUND + 0.5)  # the issuers' documented bound on stale eligibility
            expected = {i: "refusal:subscription_not_in_progress" for i in closed}
            elapsed, results, cpu = timed_storm(issuer_url, boxes, args.clients, pid, db.server_pid)
            rows.append(summary("(c) 10% databases closed", elapsed, results, expected, cpu))
        finally:
            process.stop()
        holders = certificates_per_holder(data_dir, url)
        duplicates = sum(n for per, n in holders.items() if per > 1)
        boxes_with_certs = sum(holders.values())
        print(
            f"certificates per box key: {dict(holders)}  -> duplicates: {duplicates}; "
            f"boxes with a certificate: {boxes_with_certs} of {args.boxes}"
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "rows": rows,
                        "duplicates": duplicates,
                        "db": args.db,
                        "workers": args.workers,
                    },
                    indent=2,
                )
            )
        if any(r["unexpected"] for r in rows) or duplicates:
            subprocess.run(["tail", "-20", str(process.log_path)], check=False)
            sys.exit(1)


if __name__ == "__main__":
    main()
