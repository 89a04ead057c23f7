"""``boxcert box run`` as a process next to an issuer and a hub processes: its homepage opens
in chromium with a padlock, status changes reach the hub, a forgotten box shows "unpaired" and
stops reporting, SIGTERM and SIGINT stop it cleanly, a busy port is one line; no contract code,
token or box secret in any log."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxcert import codes
from boxcert.issuer.hotcache import STALE_BOUND
from tests.browser import chromium, needs_chromium
from tests.hub_running import AdminClient
from tests.system_running import (
    Stack,
    box_cli,
    box_process,
    secrets_in,
    start_box_run,
    start_stack,
    wait_for,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def paired_box(home: Path, stack: Stack, identifier: str, token: str) -> dict[str, Any]:
    code, out = box_cli(
        home, "configure", "--identifier", identifier, "--trust-ca", str(stack.issuer.root_pem)
    )
    assert code == 0, out
    code, out = box_cli(home, "connect", token, "--name", identifier.title())
    assert code == 0, out
    config: dict[str, Any] = json.loads((home / "config.json").read_text())
    return config


@needs_chromium
def test_the_box_served_by_box_run_is_trusted_reports_and_is_forgotten(
    tmp_path: Path, stack: Stack
) -> None:
    token = stack.token()
    home = tmp_path / "box"
    config = paired_box(home, stack, "till-9", token)
    run = start_box_run(home)
    try:
        assert run.password and run.status()["status"] == "ok"
        url = wait_for(lambda: run.status()["url"], "the box's URL")
        assert url.endswith(f":{run.https_port}")  # box run records the port it serves
        host = url.removeprefix("https://").split(":")[0]

        # A browser that trusts the issuer's root opens the homepage by name: a padlock.
        with chromium(trust=[stack.issuer.root_pem], resolve={host: "127.0.0.1"}) as browser:
            visit = browser.visit(url + "/", wait_for="#verdict")
        assert visit.error is None and visit.status == 200, visit
        assert "OK" in visit.text and "Paired" in visit.text

        # The hub's IoT page shows it with its URL and end date (reported with the new port).
        shown = wait_for(
            lambda: (b := stack.hub_box("till-9")) and b["url"] == url and b, "the URL at the hub"
        )
        assert shown["status"] == "ok" and shown["certificate_end_date"]
        admin = AdminClient(stack.hub.url)
        assert admin.login(stack.hub.password).status_code in (200, 303)
        page = admin.http.get("/boxes").text
        assert url in page and shown["certificate_end_date"][:10] in page
        admin.close()

        # The issuer refuses (subscription closed) and the certificate is gone: the box's
        # front notices, the agent checks, the hub hears of it.
        stack.issuer.admin("subscription", "set-state", "--code", stack.code, "--state", "closed")
        time.sleep(STALE_BOUND + 0.1)  # the issuer's answers follow within its cache's bound
        (home / "cert.pem").unlink()
        refused = wait_for(
            lambda: (b := stack.hub_box("till-9")) and b["status"] == "error" and b,
            "the refusal at the hub",
        )
        assert refused["error_code"] == codes.LOAD_REQUEST_NO_RESULT.code
        assert run.status()["error_code"] == codes.LOAD_REQUEST_NO_RESULT.code

        # The hub forgets the box: its next report (a new name) is refused, the box shows
        # itself unpaired and reports no more.
        done, out = stack.hub.cli("forget", "till-9")
        assert done == 0, out
        assert box_cli(home, "configure", "--name", "Till nine")[0] == 0
        wait_for(lambda: run.status()["hub"]["state"] == "unpaired", "unpaired on /status.json")
        code, status = box_cli(home, "status")
        assert code == 1 and "UNPAIRED" in status  # exit 1: the certificate is not OK
        assert box_cli(home, "configure", "--name", "Till 9 again")[0] == 0
    finally:
        stack.issuer.admin(
            "subscription", "set-state", "--code", stack.code, "--state", "in_progress"
        )
        assert run.stop(signal.SIGTERM) == 0
    logs = run.logs()
    stderr = run.run.process.log()  # box run logs to stderr (journald), not to box.log
    assert stderr.count("no longer knows this box") == 1, stderr  # nothing sent after it
    assert "no longer knows this box" not in (home / "box.log").read_text()
    assert "Traceback" not in logs
    hub_secret = config["hub_secret"]
    assert secrets_in(logs + stack.logs(), [token, stack.code, hub_secret]) == []


def test_sigint_stops_it_cleanly(tmp_path: Path) -> None:
    run = start_box_run(tmp_path / "box")
    assert run.status()["error_code"] == codes.CHECK_NO_SERVER.code  # nothing configured
    assert run.stop(signal.SIGINT) == 0
    assert "Traceback" not in run.logs() and "interrupted" not in run.logs()


def test_without_a_front_the_agent_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    run = start_box_run(tmp_path / "box", "--no-front")
    assert run.password == ""  # no pages, no password
    wait_for(lambda: "certificate error" in run.logs(), "the agent's first check")
    assert run.stop(signal.SIGTERM) == 0
    assert not (tmp_path / "box" / "front").exists()


def test_a_busy_port_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = box_process(
            tmp_path / "box", "run", "--https-port", str(port), "--no-http", "--listen",
            "127.0.0.1",
        )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        f"boxcert: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(is another server running?)"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may listen on 443")
def test_no_permission_for_443_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = box_process(tmp_path / "box", "run", "--no-http", "--listen", "127.0.0.1")
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "boxcert: cannot listen on 127.0.0.1:443: permission denied (ports below 1024 need "
        "privileges)"
    ]


def test_logs_go_to_stderr_and_to_a_file_when_asked(tmp_path: Path) -> None:
    """A service's logging: INFO on stderr (journald keeps it), also in ``--log-file``, never
    in box.log, no traceback per failed request; ``--log-level debug`` is ours only, the
    libraries' DEBUG stays quiet."""
    home, log_file = tmp_path / "box", tmp_path / "agent.log"
    settings = ("--server", "http://127.0.0.1:8069", "--db-uuid", "u", "--enterprise-code", "c")
    done, out = box_cli(home, "configure", *settings, "--issuer", "http://127.0.0.1:9")
    assert done == 0, out
    for level in ((), ("--log-level", "debug")):
        run = start_box_run(home, "--log-file", str(log_file), *level)
        try:
            wait_for(lambda run=run: "certificate error" in run.run.process.log(), "a check")
        finally:
            assert run.stop(signal.SIGTERM) == 0
        stderr = run.run.process.log()
        assert "INFO boxcert.box.status: certificate error" in stderr
        assert "DEBUG httpcore" not in stderr and "DEBUG httpx" not in stderr
        if level:
            assert "DEBUG boxcert.box.transport: request to" in stderr  # the whole story
        else:
            assert "Traceback" not in stderr and "DEBUG" not in stderr
    assert "certificate error" in log_file.read_text()
    assert "certificate error" not in (home / "box.log").read_text()
    bad = box_process(home, "run", "--log-file", str(tmp_path / "missing" / "x.log"))
    assert bad.returncode == 2 and "--log-file" in bad.stderr and "Traceback" not in bad.stderr
