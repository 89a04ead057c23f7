"""Debian's chrony as an NTP server on loopback (``-x``: it never touches this machine's clock)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from boxcert.devstack import free_port

CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"
needs_chrony = pytest.mark.skipif(not Path(CHRONYD).exists(), reason="needs chrony")


@contextmanager
def chrony_server() -> Iterator[tuple[str, int]]:
    workdir = Path(tempfile.mkdtemp(prefix="boxcert-chrony-"))
    port = free_port()
    (workdir / "chrony.conf").write_text(
        f"port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n"
        f"pidfile {workdir}/chronyd.pid\ndriftfile {workdir}/drift\n"
    )
    log = (workdir / "chronyd.log").open("w")
    proc = subprocess.Popen(
        [CHRONYD, "-x", "-d", "-f", str(workdir / "chrony.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        _wait(("127.0.0.1", port), proc)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait(address: tuple[str, int], proc: subprocess.Popen[bytes]) -> None:
    request = bytes([0x23]) + bytes(47)
    for _ in range(200):  # hang guard
        if proc.poll() is not None:
            raise RuntimeError("chronyd exited at start")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(request, address)
                if s.recvfrom(512)[0][1] != 0:
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("chronyd does not answer")
