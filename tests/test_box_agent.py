"""box/agent against a real issuer process: events, the lock, forced renewal, key changes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxcert import pki
from boxcert.box import pair as pairs
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.errors import BusyError
from boxcert.box.files import BoxPaths
from boxcert.box.lock import file_lock
from boxcert.box.status import BoxEvent, CertState, Installed, StatusChanged
from boxcert.wire import RefusalCode
from tests.helpers import IssuerProcess, start_issuer


@pytest.fixture(scope="module")
def shared_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuerProcess]:
    proc = start_issuer(tmp_path_factory.mktemp("issuer"))
    yield proc
    proc.stop()


def eligible_box(home: Path, issuer: IssuerProcess, **overrides: object) -> BoxPaths:
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.add_eligible(db_uuid, code)
    paths = BoxPaths(home)
    fields: dict[str, object] = {
        "server": "http://127.0.0.1:8069",
        "db_uuid": db_uuid,
        "enterprise_code": code,
        "issuer": issuer.url,
        "trust_ca": [str(issuer.root_pem)],
        **overrides,
    }
    save_config(paths, BoxConfig(**fields))  # type: ignore[arg-type]
    return paths


def test_ensure_installs_and_announces(tmp_path: Path, shared_issuer: IssuerProcess) -> None:
    paths = eligible_box(tmp_path / "box", shared_issuer)
    agent = BoxAgent(paths)
    events: list[BoxEvent] = []
    agent.holder.subscribe(events.append)
    status = agent.ensure()
    assert status.state is CertState.OK, status
    assert [type(e) for e in events] == [Installed, StatusChanged]
    installed = events[0]
    assert isinstance(installed, Installed)
    assert pairs.load_pair(paths) == installed.pair  # the event's pair is the one on disk
    assert status.url is not None and status.url.startswith("https://127-0-0-1.")
    assert status.checked_at is not None
    # nothing new on the next check: no event
    events.clear()
    assert agent.ensure().state is CertState.OK
    assert events == []
    # status() agrees and contacts nothing
    assert agent.status().same_as(agent.holder.current)


def test_force_asks_again(tmp_path: Path, shared_issuer: IssuerProcess) -> None:
    paths = eligible_box(tmp_path / "box", shared_issuer)
    agent = BoxAgent(paths)
    assert agent.ensure().state is CertState.OK
    events: list[BoxEvent] = []
    agent.holder.subscribe(events.append)
    assert agent.ensure(force=True).state is CertState.OK
    assert any(isinstance(e, Installed) for e in events)


def test_a_second_check_is_told_busy(tmp_path: Path, shared_issuer: IssuerProcess) -> None:
    paths = eligible_box(tmp_path / "box", shared_issuer)
    agent = BoxAgent(paths, lock_timeout=0)
    with file_lock(paths.check_lock, 0), pytest.raises(BusyError, match="a check is running"):
        agent.ensure()
    # status needs no check lock
    assert agent.status().state is CertState.NEED_REFRESH


def test_a_lost_key_gets_a_new_identity(tmp_path: Path, shared_issuer: IssuerProcess) -> None:
    paths = eligible_box(tmp_path / "box", shared_issuer)
    agent = BoxAgent(paths)
    first = agent.ensure()
    paths.key.unlink()  # the remedy for a damaged key: remove it
    status = agent.status()
    assert status.state is CertState.NEED_REFRESH
    assert status.detail == "The certificate has no key on this box."
    second = agent.ensure()
    assert second.state is CertState.OK
    assert second.url != first.url  # a new key is a new name
    assert pairs.load_pair(paths) is not None


def test_a_refusal_is_shown_with_its_known_code(
    tmp_path: Path, shared_issuer: IssuerProcess
) -> None:
    paths = eligible_box(tmp_path / "box", shared_issuer, enterprise_code="not-the-code")
    agent = BoxAgent(paths)
    status = agent.ensure()
    assert status.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
    assert status.refusal is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    assert status.to_json()["refusal"]["title"] == "Database UUID or contract code not recognized"
    later = agent.status()  # remembered in state.json as data
    assert later.refusal is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    assert "not-the-code" not in json.dumps(later.to_json())


def test_an_unreadable_trust_ca_is_reported(tmp_path: Path, shared_issuer: IssuerProcess) -> None:
    missing = tmp_path / "gone.pem"
    paths = eligible_box(tmp_path / "box", shared_issuer, trust_ca=[str(missing)])
    status = BoxAgent(paths).ensure()
    assert status.state is CertState.ERROR
    assert status.detail == f"config.json: trust_ca: {missing} does not exist"
    directory = tmp_path / "dir.pem"
    directory.mkdir()
    save_config(
        paths, BoxConfig(**{**json.loads(paths.config.read_text()), "trust_ca": [str(directory)]})
    )
    assert "is a directory" in BoxAgent(paths).ensure().detail


def test_a_state_file_of_the_old_format(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    save_config(paths, BoxConfig(server="http://127.0.0.1:8069"))
    paths.state.write_text(
        json.dumps(
            {
                "last_attempt": {
                    "at": "2026-05-01T12:00:00+00:00",
                    "ok": False,
                    "error_code": "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503",
                    "detail": "maintenance",
                    "failures": 4,
                }
            }
        )
    )
    pki.atomic_write(paths.key, pki.private_key_pem(pki.make_ec_key()), 0o600)
    status = BoxAgent(paths).status()
    assert status.error_code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 503"
    assert status.error_suffix == "503"
    assert status.detail.startswith("maintenance (last attempt 2026-05-01T12:00:00+00:00; ")
