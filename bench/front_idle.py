"""The built-in front's start-up time and resident memory.

Starts ``boxcert box run`` (the agent, its reporter and the front: uvloop, HTTPS + HTTP on
loopback, a pair installed) several times and reports the median of:

- start-up: from spawning the process to its first HTTPS answer (``/status.json``), for a first
  start (no state: it makes its placeholder and hashes its first password) and a later one;
- resident memory (VmRSS) after 2 s idle, and again after 2,000 keep-alive requests to the
  homepage and 2 s idle.

Keys and certificates are made at run time (trustme) in a temporary directory.

    .venv/bin/python bench/front_idle.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import trustme

from boxcert import devstack

NAME = "127-0-0-1.benchbenchbenchben.iot.boxcert.test"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


def one_run(home: Path, context: ssl.SSLContext) -> tuple[float, float, float]:
    started = time.perf_counter()
    box = devstack.start_box(home, "--https-port", "0", "--http-port", "0", "--listen", "127.0.0.1")
    try:
        port, pid = box.https_port, box.process.proc.pid
        with httpx.Client(verify=context, timeout=30) as client:
            client.get(f"https://127.0.0.1:{port}/status.json").raise_for_status()
            ready = time.perf_counter() - started
            time.sleep(2)
            idle = rss_mib(pid)
            for _ in range(2000):
                client.get(f"https://127.0.0.1:{port}/").raise_for_status()
        time.sleep(2)
        return ready, idle, rss_mib(pid)
    finally:
        box.process.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ca = trustme.CA()
    leaf = ca.issue_cert(NAME)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.check_hostname = False
    first, later, idle, busy = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="boxcert-front-idle-") as tmp:
        for run in range(args.runs):
            home = Path(tmp) / f"home{run}"
            home.mkdir()
            leaf.private_key_pem.write_to_path(str(home / "key.pem"))
            (home / "key.pem").chmod(0o600)
            (home / "cert.pem").write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
            ready, rss_idle, rss_busy = one_run(home, context)
            first.append(ready)
            ready, rss_idle, rss_busy = one_run(home, context)  # state kept: a later start
            later.append(ready)
            idle.append(rss_idle)
            busy.append(rss_busy)
            shutil.rmtree(home)
    print(f"{'figure (median of ' + str(args.runs) + ')':<44} {'value':>8}")
    print(f"{'start-up to first HTTPS answer, first start':<44} {statistics.median(first):>7.2f}s")
    print(f"{'start-up to first HTTPS answer, later start':<44} {statistics.median(later):>7.2f}s")
    print(f"{'resident memory, idle':<44} {statistics.median(idle):>5.1f} MiB")
    print(f"{'resident memory, after 2,000 requests':<44} {statistics.median(busy):>5.1f} MiB")


if __name__ == "__main__":
    main()
