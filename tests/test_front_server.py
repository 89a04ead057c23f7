"""The built-in front over real sockets on the real agent: hot swap under load while the agent
installs, the placeholder, a pair changed behind the agent's back, the listeners."""

from __future__ import annotations

import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxcert import pki
from boxcert.box.agent import BoxAgent
from boxcert.box.front.backend import AgentBackend
from boxcert.box.front.placeholder import SUBJECT
from boxcert.box.front.server import FrontError, FrontOptions, running
from boxcert.box.status import CertState
from tests.front_support import box_home, front, served_leaf, trusting
from tests.helpers import IssuerProcess, start_issuer

SWAPS = 20


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuerProcess]:
    proc = start_issuer(tmp_path_factory.mktemp("issuer"))
    yield proc
    proc.stop()


def test_twenty_installs_by_the_agent_under_load_fail_nothing_and_every_later_handshake_sees_them(
    tmp_path: Path, issuer: IssuerProcess
) -> None:
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.add_eligible(db_uuid, code)
    settings = {
        "db_uuid": db_uuid,
        "enterprise_code": code,
        "issuer": issuer.url,
        "trust_ca": [str(issuer.root_pem)],
    }
    with front(tmp_path, installed=False, settings=settings) as f:
        first = f.agent.ensure()
        assert first.state is CertState.OK, first
        assert first.certificate is not None
        fingerprints = [first.certificate.fingerprint_sha256]
        assert pki.fingerprint_sha256(served_leaf(f.ports.https_port)) == fingerprints[0]
        generation = 0  # how many installs have returned
        stop = threading.Event()
        failures: list[str] = []
        stale: list[str] = []
        unknown: set[str] = set()  # seen while an install was under way: checked at the end
        counts = {"handshakes": 0, "requests": 0}

        def handshakes(server_name: str | None) -> None:
            while not stop.is_set():
                before = generation
                try:
                    leaf = served_leaf(f.ports.https_port, server_name=server_name)
                except OSError as err:
                    failures.append(f"handshake: {err}")
                    continue
                got = pki.fingerprint_sha256(leaf)
                if got not in fingerprints:
                    unknown.add(got)  # the pair being installed now
                elif fingerprints.index(got) < before:
                    stale.append(f"install {before} done, handshake got pair {got}")
                counts["handshakes"] += 1

        def keep_alive() -> None:
            with httpx.Client(
                verify=trusting(issuer.root_pem, check_hostname=False),
                timeout=30,
                limits=httpx.Limits(max_connections=1),
            ) as client:
                while not stop.is_set():
                    try:
                        response = client.get(f.url("/status.json"))
                        if response.status_code != 200:
                            failures.append(f"status {response.status_code}")
                    except httpx.HTTPError as err:
                        failures.append(f"keep-alive request: {err!r}")
                    counts["requests"] += 1

        workers = [
            threading.Thread(target=handshakes, args=(None,)),
            threading.Thread(target=handshakes, args=(f.box.host,)),
            threading.Thread(target=keep_alive),
        ]
        for w in workers:
            w.start()
        try:
            for _ in range(SWAPS):
                # A lost key: the agent makes a new one and gets it a certificate, so every
                # install is a new pair (the issuer hands a known key its cached one).
                f.paths.key.unlink()
                status = f.agent.ensure()
                assert status.state is CertState.OK and status.certificate is not None
                fingerprints.append(status.certificate.fingerprint_sha256)
                generation += 1
                got = pki.fingerprint_sha256(served_leaf(f.ports.https_port))
                assert got == fingerprints[-1]  # right after the install
        finally:
            stop.set()
            for w in workers:
                w.join(60)
    assert failures == []
    assert stale == []
    assert unknown <= set(fingerprints)
    assert len(set(fingerprints)) == SWAPS + 1
    assert counts["handshakes"] > SWAPS and counts["requests"] > SWAPS


def test_placeholder_until_a_pair_exists_then_the_pair(tmp_path: Path) -> None:
    with front(tmp_path, installed=False) as f:
        leaf = served_leaf(f.ports.https_port)
        assert pki.common_name(leaf.subject) == SUBJECT and pki.is_self_signed(leaf)
        key_file = f.state_dir / "placeholder.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        page = f.client().get(f.url("/")).text
        assert "temporary" in page and "self-signed certificate" in page
        # The agent never takes the placeholder for a certificate, even put in its place.
        box_key = f.paths.key.read_bytes()
        f.paths.cert.write_bytes((f.state_dir / "placeholder.pem").read_bytes())
        f.paths.key.write_bytes((f.state_dir / "placeholder.key").read_bytes())
        assert f.agent.status().state is CertState.NEED_REFRESH
        assert "placeholder" in f.agent.status().detail
        pki.atomic_write(f.paths.key, box_key, 0o600)
        f.paths.cert.unlink()
        real = f.install()
        assert served_leaf(f.ports.https_port) == real
        assert "self-signed certificate" not in f.client().get(f.url("/")).text


def test_a_pair_changed_by_another_process_is_served_and_checked(tmp_path: Path) -> None:
    with front(tmp_path, watch_interval=0.05) as f:
        key_pem, chain_pem, leaf = f.box.issue(f.ca)
        key_path, cert_path = f.backend.pair_paths()
        pki.atomic_write(key_path, key_pem, 0o600)  # no event: as `box ensure` in a shell
        pki.atomic_write(cert_path, chain_pem)
        for _ in range(600):
            if served_leaf(f.ports.https_port) == leaf:
                break
            time.sleep(0.05)
        assert served_leaf(f.ports.https_port) == leaf
        # ... and the agent was asked to look at it (its loop checks; here none runs)
        for _ in range(600):
            if f.backend.requests_sent:
                break
            time.sleep(0.05)
        assert f.backend.requests_sent == 1


def test_a_damaged_install_keeps_the_pair_served(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        before = served_leaf(f.ports.https_port)
        key_path, cert_path = f.backend.pair_paths()
        announced = f.box.pair(f.ca)
        pki.atomic_write(cert_path, b"-----BEGIN CERTIFICATE-----\ngarbage\n")
        f.agent.holder.installed(announced)  # the event, with damaged files behind it
        assert served_leaf(f.ports.https_port) == before
        other_key = pki.make_ec_key()  # a certificate for another key
        pki.atomic_write(key_path, pki.private_key_pem(other_key), 0o600)
        pki.atomic_write(cert_path, announced.chain_pem())
        f.agent.holder.installed(announced)
        assert served_leaf(f.ports.https_port) == before
        assert f.client().get(f.url("/status.json")).status_code == 200


def test_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        options = FrontOptions(tmp_path / "front", https_port=port, http_port=0, listen="127.0.0.1")
        with (
            pytest.raises(FrontError, match="already in use"),
            running(backend_in(tmp_path), options, announce_password=lambda _: None),
        ):
            pass


def test_a_bad_upstream_is_one_clear_error(tmp_path: Path) -> None:
    options = FrontOptions(
        tmp_path / "front", https_port=0, http_port=0, listen="127.0.0.1", upstream="ftp://example"
    )
    with (
        pytest.raises(FrontError, match="--upstream"),
        running(backend_in(tmp_path), options, announce_password=lambda _: None),
    ):
        pass


def test_the_password_is_announced_once(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        assert len(f.passwords) == 1 and len(f.password) == 20
        password, stored_at = f.password, f.state_dir / "password"
    with front(tmp_path) as f:
        assert f.passwords == []
    stored = stored_at.read_text()
    assert stored.startswith("scrypt$15$8$1$") and password not in stored
    assert stat.S_IMODE(stored_at.stat().st_mode) == 0o600


def backend_in(tmp_path: Path) -> AgentBackend:
    return AgentBackend(BoxAgent(box_home(tmp_path / "box")))
