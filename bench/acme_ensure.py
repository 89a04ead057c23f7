"""Seconds from ``box ensure`` to an installed ACME certificate (box → issuer → Pebble → DNS-01).

Starts the development stack once on loopback (our DNS server, Debian's ``pebble`` with
``PEBBLE_VA_NOSLEEP=1``, an issuer with ``--ca acme``), registers one eligible database, then:

- one warm-up box (creates the issuer's ACME account; timed, shown, not counted);
- ``--runs`` fresh boxes in-process (``BoxAgent(paths).ensure()``): each has a new home, so a
  new key, new names and a real new ACME order;
- for each of those boxes, ``cert.pem`` deleted and ``ensure`` again: the issuer answers from
  its cache (same certificate, no ACME order);
- ``--cli-runs`` fresh boxes through the real CLI (``python -m boxcert box --home H ensure
  --json`` in a subprocess), and the same cached path, to show the CLI's start-up cost.

Every key is made at run time in a temporary directory; all processes are stopped at the end.
Needs the Debian package ``pebble``.

    .venv/bin/python bench/acme_ensure.py [--runs 10] [--cli-runs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from boxcert import devstack, naming, pki
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.files import BoxPaths
from boxcert.box.status import CertState

ZONE = naming.DEFAULT_ZONE
DB_UUID = "bench-db-0001"
CODE = "BENCH-CODE-1"
CLI_TIMEOUT = 180  # seconds for one CLI call (the issuer gives DNS-01 60 s)


def new_box(home: Path, stack: devstack.AcmeStack) -> BoxPaths:
    paths = BoxPaths(home)
    home.mkdir(parents=True)
    save_config(
        paths,
        BoxConfig(
            server="http://127.0.0.1:8069",
            db_uuid=DB_UUID,
            enterprise_code=CODE,
            issuer=stack.issuer_url,
            trust_ca=[str(stack.root_path)],
            zone=ZONE,
        ),
    )
    return paths


def ensure_in_process(paths: BoxPaths) -> tuple[str, str]:
    report = BoxAgent(paths).ensure()
    return report.state.value, f"{report.error_code or ''} {report.detail}".strip()


def ensure_cli(paths: BoxPaths) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "boxcert", "box", "--home", str(paths.home), "ensure", "--json"],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return "error", f"exit {done.returncode}: {done.stderr[-500:]}"
    return str(report["status"]), f"{report['error_code'] or ''} {report['detail']}".strip()


def timed(
    ensure: Callable[[BoxPaths], tuple[str, str]], paths: BoxPaths, stack: devstack.AcmeStack
) -> float:
    start = time.perf_counter()
    status, detail = ensure(paths)
    elapsed = time.perf_counter() - start
    if status != CertState.OK.value or not paths.cert.exists():
        raise SystemExit(
            f"ensure failed for {paths.home}: {status} {detail}\n"
            f"issuer log:\n{stack.issuer.log()[-3000:]}"
        )
    return elapsed


def fingerprint(paths: BoxPaths) -> str:
    return pki.fingerprint_sha256(pki.load_chain(paths.cert.read_bytes())[0])


def orders(stack: devstack.AcmeStack) -> int:
    return stack.pebble.process.log().count("Added order")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh boxes ensured in-process")
    parser.add_argument(
        "--cli-runs",
        type=int,
        default=1,
        help="fresh boxes ensured through the CLI subprocess (0 = none)",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.cli_runs < 0:
        parser.error("--runs must be >= 1 and --cli-runs >= 0")
    if not devstack.pebble_available():
        raise SystemExit("pebble is missing: apt-get install -y pebble")

    boxes = 1 + args.runs + args.cli_runs
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="acme-bench-") as name:
        tmp = Path(name)
        # Each box label its own registered domain, so the issuer's weekly cap (45 per
        # registered domain) does not stop long runs; enough box slots for every run.
        stack = devstack.start_acme_stack(
            tmp / "stack",
            ZONE,
            issuer_args=("--zone-is-public-suffix", "--max-boxes", str(boxes + 10)),
        )
        try:
            devstack.add_eligible_database(stack.data_dir, DB_UUID, CODE)

            warm = timed(ensure_in_process, new_box(tmp / "box-warm", stack), stack)
            orders_before = orders(stack)

            fresh: list[float] = []
            cached: list[float] = []
            made: list[BoxPaths] = []
            for i in range(args.runs):
                paths = new_box(tmp / f"box-{i}", stack)
                fresh.append(timed(ensure_in_process, paths, stack))
                made.append(paths)
            new_orders = orders(stack) - orders_before
            for paths in made:
                before = fingerprint(paths)
                paths.cert.unlink()
                cached.append(timed(ensure_in_process, paths, stack))
                if fingerprint(paths) != before:
                    raise SystemExit("the cached path returned a different certificate")
            if orders(stack) - orders_before != new_orders:
                raise SystemExit("the cached path made an ACME order")
            rows.append(("new ACME order, in-process", fresh))
            rows.append(("issuer cache, in-process", cached))

            if args.cli_runs:
                cli_fresh: list[float] = []
                cli_cached: list[float] = []
                for i in range(args.cli_runs):
                    paths = new_box(tmp / f"box-cli-{i}", stack)
                    cli_fresh.append(timed(ensure_cli, paths, stack))
                    paths.cert.unlink()
                    cli_cached.append(timed(ensure_cli, paths, stack))
                rows.append(("new ACME order, CLI subprocess", cli_fresh))
                rows.append(("issuer cache, CLI subprocess", cli_cached))
            total_orders = orders(stack)
        finally:
            stack.stop()

    print(
        f"box ensure -> installed certificate; issuer --ca acme, Pebble (PEBBLE_VA_NOSLEEP=1), "
        f"DNS-01 via our DNS server, loopback; {total_orders} ACME orders in all; "
        f"warm-up (ACME account + first order, not counted) {warm:.2f} s"
    )
    print(f"{'path':<32} {'runs':>4} {'min s':>7} {'p50 s':>7} {'mean s':>7} {'max s':>7}")
    for label, values in rows:
        print(
            f"{label:<32} {len(values):>4} {min(values):>7.3f} "
            f"{statistics.median(values):>7.3f} {statistics.fmean(values):>7.3f} "
            f"{max(values):>7.3f}"
        )


if __name__ == "__main__":
    main()
