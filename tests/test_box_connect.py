"""``boxcert box connect TOKEN`` as a process, against an issuer and a hub processes: pairing
stores everything and checks at once, the hub shows the box's URL and end date; a malformed,
unknown, used or expired token, or a hub that does not answer, is one line and changes
nothing; no secret reaches a log."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxcert.devstack import free_port
from boxcert.wire.hub import PairingToken
from tests.system_running import Stack, box_cli, box_process, secrets_in, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def new_box(home: Path, stack: Stack, identifier: str) -> Path:
    code, out = box_cli(
        home, "configure", "--identifier", identifier, "--trust-ca", str(stack.issuer.root_pem)
    )
    assert code == 0, out
    return home


def test_connect_pairs_checks_at_once_and_the_hub_shows_the_box(
    tmp_path: Path, stack: Stack
) -> None:
    home = new_box(tmp_path / "box", stack, "till-1")
    token = stack.token()
    done = box_process(home, "connect", token, "--name", "Till 1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"paired with the hub at {stack.hub.url} as till-1" in done.stdout
    assert "HTTPS certificate: OK" in done.stdout and "hub: paired" in done.stdout
    assert done.stderr == ""
    config = json.loads((home / "config.json").read_text())
    assert stat.S_IMODE((home / "config.json").stat().st_mode) == 0o600
    assert config["server"] == stack.hub.url and config["name"] == "Till 1"
    assert (config["db_uuid"], config["enterprise_code"]) == (stack.db_uuid, stack.code)
    assert config["issuer"] == stack.issuer.url and config["hub_secret"].startswith("bxs1.")
    shown = stack.hub_box("till-1")
    assert shown is not None, "the box reports at once after its check"
    assert shown["url"].startswith("https://127-0-0-1.") and shown["status"] == "ok"
    assert shown["certificate_end_date"] is not None and shown["name"] == "Till 1"
    code, status = box_cli(home, "status", "--json")
    assert code == 0 and json.loads(status)["hub"]["state"] == "paired"
    logs = stack.logs() + (home / "box.log").read_text() + done.stdout + done.stderr
    assert secrets_in(logs, [token, stack.code, config["hub_secret"]]) == []


def forged(token: str) -> str:
    """A token of the same hub and id with another secret."""
    real = PairingToken.parse(token)
    return PairingToken(real.hub_url, real.token_id, "x" * len(real.secret)).encode()


def test_bad_tokens_change_nothing(tmp_path: Path, stack: Stack) -> None:
    used = stack.token()
    first = new_box(tmp_path / "first", stack, "till-used")
    assert box_process(first, "connect", used).returncode == 0
    expired = stack.token("--expires", "1s")
    unreachable = PairingToken(f"http://127.0.0.1:{free_port()}", "id", "s" * 43).encode()
    not_loopback = PairingToken("http://192.0.2.1", "id", "s" * 43).encode()
    time.sleep(1.5)  # the expired token's second passes
    cases = {
        "hello": "this is not a pairing token",
        "bxp1.!!.x.y": "this is not a pairing token",
        forged(stack.token()): "the hub does not know this pairing token; make a new one",
        used: "this pairing token was already used; make a new one",
        expired: "this pairing token has expired; make a new one",
        unreachable: "did not answer",
        not_loopback: "must use https://",
    }
    home = new_box(tmp_path / "box", stack, "till-2")
    before = (home / "config.json").read_bytes()
    for token, message in cases.items():
        done = box_process(home, "connect", token)
        assert done.returncode == 3, (token, done.stdout, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("boxcert: "), done.stderr
        assert message in lines[0]
        assert (home / "config.json").read_bytes() == before
        assert not (home / "key.pem").exists() and not (home / "hub.json").exists()
    assert stack.hub_box("till-2") is None
