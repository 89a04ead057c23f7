"""The front's backend on the real agent: the debounce rule (a table), no request while a check
runs, credentials through the agent's settings, pairing that changes nothing when refused, and
a status object without secrets."""

from __future__ import annotations

import json
import socket
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.box.agent import BoxAgent
from boxcert.box.front.backend import AgentBackend, Credentials, CredentialsError, check_due
from boxcert.box.hubclient import PairingError
from boxcert.box.status import CertState
from tests.box_support import http_answer, raw_issuer
from tests.front_support import box_home

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CODE = "CONTRACT-never-shown-1234"
SECRET = "bxs1.abcdefgh.0123456789abcdefghijABCDEFGHIJ_-0123456789abcde"


@pytest.mark.parametrize(
    ("elapsed", "running", "force", "due"),
    [
        (None, False, False, True),  # never asked
        (None, True, True, False),  # one runs: never two
        (59, False, False, False),
        (60, False, False, True),
        (4, False, True, False),  # Refresh still waits a few seconds
        (5, False, True, True),
        (600, True, False, False),
    ],
)
def test_check_due(elapsed: int | None, running: bool, force: bool, due: bool) -> None:
    last = None if elapsed is None else T0
    now = T0 + timedelta(seconds=elapsed or 0)
    assert check_due(now, last, running, force=force) is due


def test_no_request_while_the_agent_checks(tmp_path: Path) -> None:
    release = threading.Event()

    def stall(conn: socket.socket, _: bytes) -> None:
        release.wait(30)
        conn.sendall(http_answer(b'{"result": {"error": {"code": "x", "message": "no"}}}'))

    with raw_issuer() as peer:
        peer.script = stall
        paths = box_home(tmp_path / "box", issuer=peer.url, db_uuid="u", enterprise_code="c")
        agent = BoxAgent(paths)
        backend = AgentBackend(agent)
        checking = threading.Thread(target=agent.ensure)
        checking.start()
        try:
            for _ in range(3000):
                if peer.requests:
                    break
                threading.Event().wait(0.01)
            assert agent.checking and backend.status().checking
            assert backend.request_check(force=True) is True  # "running", not a second one
            assert backend.request_check() is True
            assert backend.requests_sent == 0
        finally:
            release.set()
            checking.join(30)
    assert not backend.status().checking
    assert backend.status().box.state is CertState.ERROR
    assert backend.request_check() is True and backend.requests_sent == 1
    assert backend.request_check() is False  # within the interval


def test_credentials_go_to_the_agents_settings(tmp_path: Path) -> None:
    paths = box_home(tmp_path / "box")
    backend = AgentBackend(BoxAgent(paths))
    saved = Credentials("https://erp.example.com", "uuid-1", CODE)
    backend.save_credentials(saved)
    assert backend.credentials() == saved
    assert json.loads(paths.config.read_text())["enterprise_code"] == CODE
    assert stat.S_IMODE(paths.config.stat().st_mode) == 0o600
    before = paths.config.read_bytes()
    for bad, message in [
        (Credentials(server="erp.example.com"), "The server URL must be an http\\(s\\) URL"),
        (Credentials(db_uuid="x" * 300), "The database UUID is longer than 256"),
        (Credentials(contract_code="a\nb" + CODE), "The contract code holds control"),
    ]:
        with pytest.raises(CredentialsError, match=message) as refused:
            backend.save_credentials(bad)
        assert CODE not in str(refused.value)
    assert paths.config.read_bytes() == before


def test_a_malformed_token_changes_nothing(tmp_path: Path) -> None:
    paths = box_home(tmp_path / "box")
    before = paths.config.read_bytes()
    backend = AgentBackend(BoxAgent(paths))
    for token in ("", "hello", "bxp1.x.y", "bxp1.aHR0cDovLw.id.secret"):
        with pytest.raises(PairingError, match=r"pairing token|hub address"):
            backend.pair(token)
    assert paths.config.read_bytes() == before


def test_the_status_object_has_no_secrets(tmp_path: Path) -> None:
    paths = box_home(tmp_path / "box", db_uuid="uuid-9", enterprise_code=CODE, hub_secret=SECRET)
    status = AgentBackend(BoxAgent(paths)).status()
    text = json.dumps(status.to_json())
    assert status.hub.state.value == "paired"
    for secret in (CODE, "uuid-9", SECRET, SECRET.split(".")[2], "127.0.0.1:8069"):
        assert secret not in text
