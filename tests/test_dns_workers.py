"""``boxcert dns serve --workers N``: N processes on one port, stopped together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.query
import pytest

Z = "iot.boxcert.test"
HOST = f"192-168-1-5.abcdefghijklmnop.{Z}"
HANG_GUARD = 60.0


@contextmanager
def serve(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    code = "from boxcert.dns.cli import dns_group; dns_group()"
    url = f"sqlite:///{tmp_path / 'issuer.sqlite3'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--db", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc, 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def ready_port(proc: subprocess.Popen[str], workers: int) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.fullmatch(
        rf"dns: serving {re.escape(Z)} on 127\.0\.0\.1:(\d+) \(udp\+tcp, {workers} workers\)\n",
        line,
    )
    assert match, line
    return int(match.group(1))


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def udp_sockets_on(port: int, pids: list[int]) -> dict[int, int]:
    """How many UDP sockets bound to ``port`` each of ``pids`` holds (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    held = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        links = [os.readlink(fd) for fd in fd_dir.iterdir() if fd.is_symlink()]
        held[pid] = sum(1 for link in links if link[8:-1] in inodes and link.startswith("socket:["))
    return held


def ask(port: int, rdtype: str = "A", tcp: bool = False) -> list[str]:
    query = dns.message.make_query(HOST, rdtype)
    if tcp:
        response = dns.query.tcp(query, "127.0.0.1", port=port, timeout=5)
    else:
        response = dns.query.udp(query, "127.0.0.1", port=port, timeout=5)
    return [r.to_text() for rrset in response.answer for r in rrset]


@pytest.mark.slow
def test_two_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    with serve(tmp_path, "--listen", "127.0.0.1:0", "--workers", "2") as (proc, _):
        port = ready_port(proc, 2)
        workers = [pid for pid in children(proc.pid) if "resource_tracker" not in _cmdline(pid)]
        assert len(workers) == 2
        assert udp_sockets_on(port, workers) == {pid: 1 for pid in workers}
        # Clients on many source ports: the kernel spreads them; every one is answered.
        for _ in range(20):
            assert ask(port) == ["192.168.1.5"]
        assert ask(port, "AAAA", tcp=True) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
        assert not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers)
        assert proc.stderr is not None and proc.stderr.read().endswith("dns: stopped\n")


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_group(tmp_path: Path) -> None:
    with serve(tmp_path, "--listen", "127.0.0.1:0", "--workers", "2") as (proc, _):
        ready_port(proc, 2)
        workers = [pid for pid in children(proc.pid) if "resource_tracker" not in _cmdline(pid)]
        os.kill(workers[0], signal.SIGKILL)
        assert proc.wait(HANG_GUARD) == 1
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert f"Error: worker {workers[0]} exited with status -9" in err
        assert "Traceback" not in err
        assert not _alive(workers[1])


@pytest.mark.slow
def test_a_port_taken_by_another_program_is_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with serve(tmp_path, "--listen", f"127.0.0.1:{port}", "--workers", "2") as (proc, _):
            assert proc.wait(HANG_GUARD) == 1
            assert proc.stderr is not None
            lines = proc.stderr.read().strip().splitlines()
            assert lines[-1].startswith(f"Error: cannot serve on 127.0.0.1:{port}: [Errno")
            assert "Address already in use" in lines[-1]


def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    with serve(tmp_path, "--workers", "0") as (proc, _):
        assert proc.wait(HANG_GUARD) == 2
        assert proc.stderr is not None and "Invalid value for '--workers'" in proc.stderr.read()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its parent's wait counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status
