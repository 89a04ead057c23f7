"""Issuer requests that find a cached certificate: requests/s and latency under ``wrk``.

Starts ``boxcert issuer serve`` with the local CA on loopback (one uvicorn process), registers
one eligible database and warms the cache with one request per variant, then runs
``wrk --latency -t2 -c<clients> -d<seconds>s`` with a Lua script that POSTs to ``/iot/x509``:

- ``no CSR (db wildcard)``: ``{"params": {"db_uuid", "enterprise_code"}}``, the compatible
  exchange: the database's cached wildcard certificate *and its private key* in the answer;
- ``box CSR``: the same plus a box's CSR (key made here at run time): the box's cached
  certificate. The issuer checks the CSR's signature and names on every request.

The Lua script also counts answers that are not a grant (HTTP 200 without ``x509_pem``, i.e. a
refusal), so a refusal cannot pass for a fast success. Needs the Debian package ``wrk``
(installed with ``scripts/system-deps.sh wrk`` when missing). Everything runs in a temporary
directory and stops by itself (about 4 x --seconds).

    .venv/bin/python bench/issuer_cached.py [--seconds 10] [--clients 50,500]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from boxcert import devstack, naming, pki
from boxcert.box.identity import box_names

ZONE = naming.DEFAULT_ZONE
DB_UUID = "bench-db-0001"
CODE = "BENCH-CODE-1"
REPO = Path(__file__).resolve().parent.parent

LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]

local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  not_grant = 0
end
function response(status, headers, body)
  if status == 200 and not string.find(body, "x509_pem", 1, true) then
    not_grant = not_grant + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_grant")
  end
  io.write(string.format("not_grant: %d\\n", total))
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        subprocess.run([str(REPO / "scripts" / "system-deps.sh"), "wrk"], check=True, timeout=600)
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    return path


def warm(url: str, body: dict[str, Any]) -> None:
    """One request that fills the cache; it must be a grant."""
    answer = httpx.post(url, json=body, timeout=30)
    answer.raise_for_status()
    result = answer.json().get("result", {})
    if "x509_pem" not in result:
        raise SystemExit(f"warm-up request was not granted: {answer.text[:500]}")


def to_ms(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def run_wrk(wrk: str, url: str, script: Path, clients: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        [wrk, "--latency", "-t2", f"-c{clients}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    not_grant = re.search(r"not_grant: (\d+)", out)
    if not (rps and p50 and p99 and total and not_grant):
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p50": to_ms(*p50.groups()),
        "p99": to_ms(*p99.groups()),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket": sum(int(g) for g in sock.groups()) if sock else 0,
        "timeouts": int(sock.group(4)) if sock else 0,
        "not_grant": int(not_grant.group(1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument(
        "--clients", default="50,500", help="comma-separated concurrent connections (wrk -c)"
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    wrk = ensure_wrk()

    key = pki.make_ec_key()
    csr = pki.csr_pem(pki.make_csr(key, box_names(key, ZONE)))
    variants = {
        "no CSR (db wildcard + key)": {"params": {"db_uuid": DB_UUID, "enterprise_code": CODE}},
        "box CSR (box certificate)": {
            "params": {
                "db_uuid": DB_UUID,
                "enterprise_code": CODE,
                "identifier": "bench-box",
                "csr": csr,
            }
        },
    }
    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="issuer-bench-") as name:
        tmp = Path(name)
        data_dir = tmp / "issuer"
        issuer, base = devstack.start_issuer(data_dir, "--zone", ZONE)
        try:
            devstack.add_eligible_database(data_dir, DB_UUID, CODE)
            url = f"{base}/iot/x509"
            for label, body in variants.items():
                warm(url, body)
                script = tmp / f"{len(rows)}.lua"
                script.write_text(LUA.format(body=json.dumps(body)))
                for c in clients:
                    rows.append((label, c, run_wrk(wrk, url, script, c, args.seconds)))
                    if issuer.proc.poll() is not None:
                        raise SystemExit(f"the issuer exited: {issuer.log()[-2000:]}")
        finally:
            issuer.stop()

    print(
        f"wrk --latency -t2 -c<clients> -d{args.seconds}s, POST /iot/x509 over loopback "
        f"(plain HTTP), issuer --ca local, one uvicorn process, every answer from the cache"
    )
    print(
        f"{'variant':<27} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6}  (non-2xx/socket[timeout]/not-a-grant of requests)"
    )
    for label, c, r in rows:
        errors = r["non2xx"] + r["socket"] + r["not_grant"]
        detail = (
            f"{r['non2xx']:.0f}/{r['socket']:.0f}[{r['timeouts']:.0f}]/"
            f"{r['not_grant']:.0f} of {r['requests']:.0f}"
        )
        print(
            f"{label:<27} {c:>7} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
            f"{errors:>6.0f}  ({detail})"
        )


if __name__ == "__main__":
    main()
