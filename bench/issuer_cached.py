"""Issuer requests answered from the cache, side by side with nginx serving the same answer as a
static file and with the bare HTTP stack answering a constant, in one run.

Servers, each with ``--workers`` processes (default: one per core), on loopback:

- **nginx** (Debian's, ``worker_processes N``) serving each answer the issuer gave at warm-up
  as a static file (POST is answered with the file through ``error_page 405 =200``);
- **bare stack**: our HTTP server (:func:`boxcert.httpserver.serve`: uvicorn + httptools on
  uvloop with our deadlines, SO_REUSEPORT) running an ASGI app that reads the body and answers
  the box-CSR answer's bytes; and granian (a Rust ASGI server) with the same app when it is
  installed (``pip install granian``; it is not one of our dependencies);
- **issuer**: ``boxcert issuer serve --ca local --workers N`` with one eligible database and
  the cache warmed by one request per variant: ``no CSR`` (the compatible exchange: the
  database's wildcard certificate and key) and ``box CSR`` (a box's own certificate); once
  more with ``--no-access-log`` for the access log's cost.

Each row is ``wrk --latency -t2 -c<clients> -d<seconds>s`` POSTing the same body; a Lua
script counts HTTP 200 answers without ``x509_pem`` (a refusal) as errors, with non-2xx
answers and socket errors. With ``--runs R`` every row runs R times (the order of the servers
turning each run) and the median is shown. Then an in-process table gives the CPU time per
cached request spent in our own code, without any HTTP server: the service alone, the app,
the app with metrics (the site's access-log middleware with logging off), with the access
log. Needs ``wrk`` and ``nginx`` (``scripts/system-deps.sh wrk nginx`` when missing).

    .venv/bin/python bench/issuer_cached.py [--seconds 10] [--clients 50] [--workers N] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

CONSTANT_APP = """\
from pathlib import Path

BODY = Path({path!r}).read_bytes()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
    await send({{"type": "http.response.body", "body": BODY}})
"""


def ensure_tools() -> str:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            subprocess.run([str(REPO / "scripts" / "system-deps.sh"), tool], check=True)
    path = shutil.which("wrk")
    if path is None or shutil.which("nginx") is None:
        raise SystemExit("wrk and nginx are needed: apt-get install -y wrk nginx")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(1000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on port {port}")


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
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(g) for g in sock.groups()) if sock else 0)
        + int(not_grant.group(1)),
        "load": float(Path("/proc/loadavg").read_text().split()[0]),
    }


# --- the servers ---------------------------------------------------------------------------


@contextmanager
def nginx(directory: Path, answers: dict[str, bytes], workers: int) -> Iterator[int]:
    """nginx serving each answer at ``/<name>`` as a static file, POST included."""
    port = free_port()
    static = directory / "static"
    static.mkdir(parents=True)
    locations = []
    for name, body in answers.items():
        (static / f"{name}.json").write_bytes(body)
        (static / f"{name}.json").chmod(0o644)
        locations.append(
            f"location = /{name} {{ alias {static}/{name}.json; "
            "default_type application/json; error_page 405 =200 $uri; }"
        )
    for path in (directory.parent, directory, static):  # nginx's workers run as nobody
        path.chmod(0o755)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"worker_processes {workers};\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\nevents {{ worker_connections 4096; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {directory}/body;\n"
        f"  proxy_temp_path {directory}/proxy; fastcgi_temp_path {directory}/fastcgi;\n"
        f"  uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    " + "\n    ".join(locations) + "\n  }\n}\n"
    )
    command = ["nginx", "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "e.log")]
    process = subprocess.Popen([*command, "-g", "daemon off;"])
    try:
        wait_for(port)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _serve_constant(body_path: str, port: int) -> None:
    """One process of the bare stack (run as ``--serve-constant``)."""
    from boxcert import httpserver

    body = Path(body_path).read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = httpserver.bind("127.0.0.1", port, reuse_port=True)
    httpserver.run(httpserver.serve(app, "127.0.0.1", port, sock=sock))


@contextmanager
def bare_stack(body: Path, workers: int) -> Iterator[int]:
    port = free_port()
    processes = [
        subprocess.Popen([sys.executable, __file__, "--serve-constant", str(body), str(port)])
        for _ in range(workers)
    ]
    try:
        wait_for(port)
        time.sleep(1)  # every worker listening
        yield port
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(10)


def granian_available() -> bool:
    return shutil.which("granian", path=str(Path(sys.executable).parent)) is not None


@contextmanager
def granian(directory: Path, body: Path, workers: int) -> Iterator[int]:
    port = free_port()
    (directory / "constant_app.py").write_text(CONSTANT_APP.format(path=str(body)))
    command = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning"]
    process = subprocess.Popen([*command, "constant_app:app"], cwd=directory)
    try:
        wait_for(port)
        time.sleep(1)
        yield port
    finally:
        process.terminate()
        process.wait(15)


@contextmanager
def issuer(directory: Path, workers: int, *extra: str) -> Iterator[str]:
    data_dir = directory / "issuer"
    process, base = devstack.start_issuer(
        data_dir, "--zone", ZONE, "--workers", str(workers), *extra
    )
    try:
        if not (data_dir / "registered").exists():
            devstack.add_eligible_database(data_dir, DB_UUID, CODE)
            (data_dir / "registered").touch()
        yield base
    finally:
        process.stop()


def warm(url: str, body: dict[str, Any]) -> bytes:
    """Ask until the answer is a grant (every worker's cache is then warm for it: each worker
    gets its own connections); the answer's bytes."""
    answer = b""
    for _ in range(20):
        with httpx.Client(timeout=30) as client:  # a new connection: maybe another worker
            reply = client.post(url, json=body)
        reply.raise_for_status()
        if "x509_pem" not in reply.json().get("result", {}):
            raise SystemExit(f"warm-up request was not granted: {reply.text[:500]}")
        answer = reply.content
    return answer


# --- in-process: our own code's CPU per request ----------------------------------------------


def in_process(directory: Path, body: dict[str, Any], rounds: int) -> dict[str, float]:
    """Microseconds of CPU per cached request through each layer of our code, no server."""
    from boxcert.issuer.access import AccessLogWriter
    from boxcert.issuer.app import create_app
    from boxcert.issuer.server import IssuerOptions, build_service
    from boxcert.issuer.site import create_site
    from boxcert.wire import CertificateRequest

    data_dir = directory / "inproc"
    service = build_service(IssuerOptions(data_dir=data_dir, zone=ZONE))
    devstack.add_eligible_database(data_dir, DB_UUID, CODE)
    raw = json.dumps(body).encode()
    request = CertificateRequest.from_json(body)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/iot/x509",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1")],
        "client": ("127.0.0.1", 1),
    }
    writer = AccessLogWriter(open(os.devnull, "w"))  # noqa: SIM115 - closed with the writer
    layers = {
        "app": create_app(service),
        "app + metrics": create_site(service),
        "app + metrics + access log": create_site(service, access_log=writer),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(_message: Any) -> None:
        return None

    async def measure() -> dict[str, float]:
        await service.handle(request)  # warm
        figures: dict[str, float] = {}
        started = time.process_time()
        for _ in range(rounds):
            await service.answer(request)
        figures["service (answer from memory)"] = (time.process_time() - started) / rounds
        for name, app in layers.items():
            started = time.process_time()
            for _ in range(rounds):
                await app(dict(scope), receive, send)
            figures[name] = (time.process_time() - started) / rounds
        return figures

    try:
        return {k: v * 1e6 for k, v in asyncio.run(measure()).items()}
    finally:
        writer.close()
        service.close()


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--serve-constant", nargs=2, metavar=("BODY", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_constant:
        _serve_constant(args.serve_constant[0], int(args.serve_constant[1]))
        return
    wrk = ensure_tools()
    n = args.workers

    key = pki.make_ec_key()
    csr = pki.csr_pem(pki.make_csr(key, box_names(key, ZONE)))
    requests = {
        "nocsr": {"params": {"db_uuid": DB_UUID, "enterprise_code": CODE}},
        "csr": {
            "params": {"db_uuid": DB_UUID, "enterprise_code": CODE, "identifier": "b", "csr": csr}
        },
    }
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="issuer-bench-") as name:
        tmp = Path(name)
        scripts = {}
        for variant, body in requests.items():
            scripts[variant] = tmp / f"{variant}.lua"
            scripts[variant].write_text(LUA.format(body=json.dumps(body)))
        with issuer(tmp, n) as base:  # the answers nginx and the bare stack will serve
            answers = {v: warm(f"{base}/iot/x509", body) for v, body in requests.items()}
        (tmp / "csr-answer.json").write_bytes(answers["csr"])

        def measure(label: str, url: str, variant: str) -> None:
            result = run_wrk(wrk, url, scripts[variant], args.clients, args.seconds)
            rows.setdefault(label, []).append(result)

        for run in range(args.runs):
            servers = ["nginx", "bare", "granian", "issuer", "issuer-quiet"]
            for server in servers[run % len(servers) :] + servers[: run % len(servers)]:
                if server == "nginx":
                    with nginx(tmp / f"nginx-{run}", answers, n) as port:
                        for v in ("nocsr", "csr"):
                            measure(f"nginx static file ({v})", f"http://127.0.0.1:{port}/{v}", v)
                elif server == "bare":
                    with bare_stack(tmp / "csr-answer.json", n) as port:
                        url = f"http://127.0.0.1:{port}/iot/x509"
                        measure("bare stack: uvicorn+httptools+uvloop, constant", url, "csr")
                elif server == "granian" and granian_available():
                    with granian(tmp, tmp / "csr-answer.json", n) as port:
                        url = f"http://127.0.0.1:{port}/iot/x509"
                        measure("bare stack: granian, constant", url, "csr")
                elif server == "issuer":
                    with issuer(tmp, n) as base:
                        for v, body in requests.items():
                            warm(f"{base}/iot/x509", body)
                            measure(f"issuer ({v})", f"{base}/iot/x509", v)
                elif server == "issuer-quiet":
                    with issuer(tmp, n, "--no-access-log") as base:
                        warm(f"{base}/iot/x509", requests["csr"])
                        measure("issuer (csr), --no-access-log", f"{base}/iot/x509", "csr")
        cpu = in_process(tmp, requests["csr"], 20000)

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        "?",
    )
    print(
        f"wrk -t2 -c{args.clients} -d{args.seconds}s POST over loopback, {n} worker process(es) "
        f"each, median of {args.runs} run(s); nproc {os.cpu_count()}, {model}"
    )
    print(f"{'server':<50} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'load':>5}")
    median: dict[str, float] = {}
    for label, results in rows.items():
        rps = statistics.median(r["rps"] for r in results)
        median[label] = rps
        p50 = statistics.median(r["p50"] for r in results)
        p99 = statistics.median(r["p99"] for r in results)
        errors = sum(r["errors"] for r in results)
        load = max(r["load"] for r in results)
        print(f"{label:<50} {rps:>8.0f} {p50:>7.2f} {p99:>7.2f} {errors:>6.0f} {load:>5.2f}")
    for v in ("nocsr", "csr"):
        ratio = median[f"issuer ({v})"] / median[f"nginx static file ({v})"]
        print(f"ratio issuer/nginx ({v}): {ratio:.3f}")
    bare = median["bare stack: uvicorn+httptools+uvloop, constant"]
    print(f"ratio bare stack/nginx (csr): {bare / median['nginx static file (csr)']:.3f}")
    print(f"ratio issuer/bare stack (csr): {median['issuer (csr)'] / bare:.3f}")
    print("\nin-process, CPU per cached box-CSR request (no HTTP server):")
    for layer, micros in cpu.items():
        print(f"  {layer:<40} {micros:>7.1f} µs")


if __name__ == "__main__":
    main()
