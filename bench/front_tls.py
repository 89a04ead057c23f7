"""The built-in HTTPS front against nginx serving the same certificate, in one run.

Starts the front (``boxcert box run``, one process, the box's pair installed) and a
private Debian nginx (``worker_processes`` as given, default 1 like the front) with the same
key, chain, TLS protocols and ciphers, both on loopback. Then, for each server:

- new TLS handshakes/s: ``openssl s_time -new`` (a full handshake per connection, no session
  reuse, no request), ``--handshake-clients`` processes side by side, connections summed;
- keep-alive requests/s: ``wrk -t2 -c<clients>`` GETting the same 3 KB stylesheet
  (``/box/static/front.css``: the front serves it from memory, nginx from a file).

Prints a table with the ratio front/nginx. Keys and certificates are made at run time in a
temporary directory (trustme); everything stops by itself (about 4 x --seconds).

    .venv/bin/python bench/front_tls.py [--seconds 10] [--clients 50] [--nginx-workers 1]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

from boxcert import devstack
from boxcert.box.front.context import box_pages
from boxcert.box.front.tlsprofile import INTERMEDIATE_TLS12_CIPHERS

REPO = Path(__file__).resolve().parent.parent
NAME = "127-0-0-1.benchbenchbenchben.iot.boxcert.test"
PATH = box_pages().stylesheet_path  # the box's stylesheet (the shared one and the box's)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pair(directory: Path) -> tuple[Path, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert(NAME)
    key, cert = directory / "key.pem", directory / "cert.pem"
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return key, cert


@contextmanager
def builtin_front(home: Path) -> Iterator[int]:
    box = devstack.start_box(home, "--https-port", "0", "--no-http", "--listen", "127.0.0.1")
    try:
        yield box.https_port
    finally:
        box.process.stop()


@contextmanager
def nginx(directory: Path, key: Path, cert: Path, workers: int) -> Iterator[int]:
    port = free_port()
    static = directory / "static"
    static.mkdir()
    (static / "front.css").write_bytes(box_pages().css)
    for path in (directory.parent, directory, static):  # nginx's workers run as nobody
        path.chmod(0o755)
    (static / "front.css").chmod(0o644)
    conf = directory / "nginx.conf"
    conf.write_text(f"""\
worker_processes {workers};
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi; uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {":".join(INTERMEDIATE_TLS12_CIPHERS)};
    ssl_prefer_server_ciphers off;
    ssl_session_tickets off;
    location = {PATH} {{ alias {static}/front.css; default_type text/css; }}
  }}
}}
""")
    process = subprocess.Popen(
        [
            "nginx",
            "-p",
            f"{directory}/",
            "-c",
            str(conf),
            "-e",
            str(directory / "error.log"),
            "-g",
            "daemon off;",
        ]
    )
    try:
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def handshakes(port: int, seconds: int, clients: int) -> float:
    runs = [
        subprocess.Popen(
            ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(clients)
    ]
    total = 0.0
    for run in runs:
        out, _ = run.communicate(timeout=seconds * 3 + 30)
        found = re.search(r"(\d+) connections in (\d+) real seconds", out)
        if found is None:
            raise SystemExit(f"cannot read openssl s_time's output:\n{out}")
        total += int(found.group(1)) / max(int(found.group(2)), 1)
    return total


def keep_alive(port: int, seconds: int, clients: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", f"https://127.0.0.1:{port}{PATH}"],
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 30,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(rate.group(1)), errors + (int(non_2xx.group(1)) if non_2xx else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50, help="wrk connections")
    parser.add_argument("--handshake-clients", type=int, default=2)
    parser.add_argument("--nginx-workers", type=int, default=1)
    args = parser.parse_args()
    for tool in ("openssl", "wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: scripts/system-deps.sh {tool}")
    with tempfile.TemporaryDirectory(prefix="boxcert-front-bench-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        (root / "nginx").mkdir()
        key, cert = pair(root / "home")
        figures: dict[str, tuple[float, float, int]] = {}
        with builtin_front(root / "home") as port:
            hs = handshakes(port, args.seconds, args.handshake_clients)
            rps, errors = keep_alive(port, args.seconds, args.clients)
            figures["built-in front"] = (hs, rps, errors)
        with nginx(root / "nginx", key, cert, args.nginx_workers) as port:
            hs = handshakes(port, args.seconds, args.handshake_clients)
            rps, errors = keep_alive(port, args.seconds, args.clients)
            figures[f"nginx ({args.nginx_workers} worker)"] = (hs, rps, errors)
    print(f"{'server':<22} {'handshakes/s':>13} {'keep-alive req/s':>17} {'errors':>7}")
    for name, (hs, rps, errors) in figures.items():
        print(f"{name:<22} {hs:>13.0f} {rps:>17.0f} {errors:>7}")
    (front_hs, front_rps, _), (nginx_hs, nginx_rps, _) = figures.values()
    print(f"{'ratio front/nginx':<22} {front_hs / nginx_hs:>13.2f} {front_rps / nginx_rps:>17.2f}")


if __name__ == "__main__":
    main()
