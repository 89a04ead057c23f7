"""The three services as a vendor and a customer start them, on loopback: an issuer process
(local CA), a hub process configured for one eligible database, and ``boxcert box run``
processes; plus a grep of every log for the secrets the test saw."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from boxcert import devstack, naming
from tests.helpers import IssuerProcess, cli, cli_json, start_issuer
from tests.hub_running import HubProcess, start_hub

HANG_GUARD = 60.0


@dataclass
class Stack:
    issuer: IssuerProcess
    hub: HubProcess
    db_uuid: str
    code: str

    def token(self, *args: str) -> str:
        return self.hub.token(*args)

    def hub_box(self, identifier: str) -> dict[str, Any] | None:
        code, listed = cli_json("hub", "boxes", "--data", str(self.hub.data_dir), "--json")
        assert code == 0
        boxes = listed["boxes"] if isinstance(listed, dict) else listed
        return next((b for b in boxes if b["identifier"] == identifier), None)

    def logs(self) -> str:
        return self.issuer.log() + self.hub.log()

    def stop(self) -> None:
        self.hub.stop()
        self.issuer.stop()


def start_stack(workdir: Path) -> Stack:
    """An issuer with one eligible database and a hub configured for it, both processes."""
    issuer = start_issuer(workdir / "issuer")
    try:
        db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:12]}"
        issuer.add_eligible(db_uuid, code)
        hub = start_hub(workdir / "hub")
        done, out = cli(
            "hub", "configure", "--data", str(hub.data_dir), "--db-uuid", db_uuid,
            "--enterprise-code", "-", "--issuer", issuer.url, "--zone", naming.DEFAULT_ZONE,
            input=code + "\n",
        )  # fmt: skip
        assert done == 0, out
    except BaseException:
        issuer.stop()
        raise
    return Stack(issuer, hub, db_uuid, code)


def box_cli(home: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    return cli("box", "--home", str(home), *args, input=input)


def box_process(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``boxcert box --home HOME …`` as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "boxcert", "box", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class BoxRun:
    """A ``boxcert box run`` process (:func:`boxcert.devstack.start_box`) on loopback."""

    home: Path
    run: devstack.BoxRun

    @property
    def https_port(self) -> int:
        return self.run.https_port

    @property
    def password(self) -> str:
        return self.run.password

    def stop(self, sig: int = signal.SIGTERM) -> int:
        proc = self.run.process.proc
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(HANG_GUARD)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stdout is not None
        self.run.lines.extend(proc.stdout.read().splitlines())
        return proc.returncode

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.https_port}{path}"

    def status(self) -> dict[str, Any]:
        with httpx.Client(verify=False, timeout=30) as client:
            answer: dict[str, Any] = client.get(self.url("/status.json")).json()
            return answer

    def logs(self) -> str:
        """Its console (stdout and stderr) and its box.log."""
        box_log = self.home / "box.log"
        return (
            "\n".join(self.run.lines)
            + self.run.process.log()
            + (box_log.read_text(errors="replace") if box_log.exists() else "")
        )


def start_box_run(home: Path, *args: str) -> BoxRun:
    """``box run`` on free loopback ports; waits until it serves."""
    ports = ("--https-port", "0", "--http-port", "0", "--listen", "127.0.0.1")
    return BoxRun(home, devstack.start_box(home, *ports, *args))


def wait_for(check: Any, what: str, guard: float = HANG_GUARD) -> Any:
    """Poll ``check()`` until it returns something true (a hang guard, not a time bound)."""
    deadline = time.monotonic() + guard
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def secrets_in(logs: str, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` (and their secret parts) appear in ``logs``."""
    found = []
    for secret in secrets:
        parts = [secret] + [p for p in secret.split(".")[2:] if len(p) >= 16]
        found += [p for p in parts if p and p in logs]
    return found
