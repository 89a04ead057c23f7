"""``boxcert issuer serve --workers N`` (issuer/workers.py): N processes listening on one port
(SO_REUSEPORT), answering together; SIGTERM to the parent stops them all and frees the port;
a port in use is one line; a worker that dies takes the group down."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from boxcert import devstack
from boxcert.issuer.workers import default_workers


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (from /proc)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_default_is_one_worker_per_core() -> None:
    assert default_workers() == len(os.sched_getaffinity(0))


@pytest.mark.slow
def test_two_workers_one_port_stop_together(tmp_path: Path) -> None:
    process, url = devstack.start_issuer(tmp_path / "issuer", "--workers", "2")
    port = int(url.rsplit(":", 1)[1])
    try:
        workers = [pid for pid in _children(process.proc.pid) if _listening(pid, port)]
        assert len(workers) == 2
        for _ in range(20):
            with httpx.Client(timeout=30) as client:  # new connections, spread by the kernel
                assert client.get(url + "/healthz").json()["status"] == "ok"
    finally:
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 30  # a hang guard
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
    with socket.socket() as again:  # the port is free
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


@pytest.mark.slow
def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    process, url = devstack.start_issuer(tmp_path / "first", "--workers", "2")
    try:
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "boxcert",
                "issuer",
                "serve",
                "--data",
                str(tmp_path / "two"),
                "--listen",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        process.stop()
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0], second.stderr
    assert "Traceback" not in second.stderr


@pytest.mark.slow
def test_a_dead_worker_stops_the_group(tmp_path: Path) -> None:
    process, url = devstack.start_issuer(tmp_path / "issuer", "--workers", "2")
    port = int(url.rsplit(":", 1)[1])
    try:
        workers = [pid for pid in _children(process.proc.pid) if _listening(pid, port)]
        os.kill(workers[0], signal.SIGKILL)
        code = process.proc.wait(timeout=60)
    finally:
        process.stop()
    assert code != 0
    assert "exited" in process.log()
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_once_serving_is_a_clean_stop(tmp_path: Path, workers: str) -> None:
    """A service manager's stop: exit status 0 and no error line, whether one process serves
    or a group does (uvicorn raises the signal again after its graceful shutdown)."""
    process, _url = devstack.start_issuer(tmp_path / "issuer", "--workers", workers)
    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(timeout=60) == 0
    assert "boxcert:" not in process.log(), process.log()
