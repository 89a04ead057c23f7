"""The built-in front over real sockets: hot swap under load, the placeholder, listeners."""

from __future__ import annotations

import socket
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from boxcert import pki
from boxcert.box.front.localbackend import LocalBackend
from boxcert.box.front.placeholder import SUBJECT
from boxcert.box.front.server import FrontError, FrontOptions, running
from tests.front_support import front, served_leaf, trusting

SWAPS = 20


def test_twenty_swaps_under_load_fail_nothing_and_every_later_handshake_sees_the_new_pair(
    tmp_path: Path,
) -> None:
    with front(tmp_path) as f:
        fingerprints = [pki.fingerprint_sha256(served_leaf(f.ports.https_port))]
        generation = 0  # how many installs have returned
        stop = threading.Event()
        failures: list[str] = []
        stale: list[str] = []
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
                known = fingerprints.index(got) if got in fingerprints else -1
                if known < before:
                    stale.append(f"install {before} done, handshake got pair {known}")
                counts["handshakes"] += 1

        def keep_alive() -> None:
            with httpx.Client(
                verify=trusting(f.root, check_hostname=False),
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
                time.sleep(0.05)
                key_pem, chain_pem, leaf = f.box.issue(f.ca)
                fingerprints.append(pki.fingerprint_sha256(leaf))
                f.backend.install(key_pem, chain_pem)
                generation += 1
                assert served_leaf(f.ports.https_port) == leaf  # right after the install
            time.sleep(0.05)
        finally:
            stop.set()
            for w in workers:
                w.join(60)
    assert failures == []
    assert stale == []
    assert counts["handshakes"] > SWAPS and counts["requests"] > SWAPS


def test_placeholder_until_a_pair_exists_then_the_pair(tmp_path: Path) -> None:
    with front(tmp_path, installed=False) as f:
        leaf = served_leaf(f.ports.https_port)
        assert pki.common_name(leaf.subject) == SUBJECT and pki.is_self_signed(leaf)
        key_file = f.state_dir / "placeholder.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        page = f.client().get(f.url("/")).text
        assert "temporary" in page and "self-signed certificate" in page
        real = f.install()
        assert served_leaf(f.ports.https_port) == real
        assert "self-signed certificate" not in f.client().get(f.url("/")).text


def test_a_pair_installed_by_another_process_is_picked_up_by_the_watch(tmp_path: Path) -> None:
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


def test_a_damaged_install_keeps_the_pair_served(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        before = served_leaf(f.ports.https_port)
        _, cert_path = f.backend.pair_paths()
        pki.atomic_write(cert_path, b"-----BEGIN CERTIFICATE-----\ngarbage\n")
        f.backend.install(*f.box.issue(f.ca)[:1], cert_path.read_bytes())
        assert served_leaf(f.ports.https_port) == before
        other_key = pki.make_ec_key()  # a certificate for another key
        _, chain_pem, _ = f.box.issue(f.ca)
        f.backend.install(pki.private_key_pem(other_key), chain_pem)
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
            running(LocalBackend(tmp_path / "box"), options, announce_password=lambda _: None),
        ):
            pass


def test_a_bad_upstream_is_one_clear_error(tmp_path: Path) -> None:
    options = FrontOptions(
        tmp_path / "front", https_port=0, http_port=0, listen="127.0.0.1", upstream="ftp://example"
    )
    with (
        pytest.raises(FrontError, match="--upstream"),
        running(LocalBackend(tmp_path / "box"), options, announce_password=lambda _: None),
    ):
        pass


def test_the_password_is_announced_once(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "box")
    with front(tmp_path, backend=backend) as f:
        assert len(f.passwords) == 1 and len(f.password) == 20
    with front(tmp_path, backend=backend) as f:
        assert f.passwords == []
    stored = (tmp_path / "front" / "password").read_text()
    assert stored.startswith("scrypt$15$8$1$")
    assert stat.S_IMODE((tmp_path / "front" / "password").stat().st_mode) == 0o600
