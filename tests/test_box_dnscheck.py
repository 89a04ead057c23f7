"""The box's DNS diagnosis through ``boxcert box diagnose`` and the homepage's DNS row: Debian's
dnsmasq and unbound as the shop's router, in front of our own zone server, all on loopback."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxcert import naming, pki
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.dnscheck import DnsWatch, target
from boxcert.box.files import BoxPaths
from boxcert.devstack import free_port
from tests.front_support import front
from tests.helpers import cli
from tests.resolvers import dnsmasq, needs_dnsmasq, needs_unbound, unbound, zone_server
from tests.system_running import box_process

ZONE = naming.DEFAULT_ZONE
GUARD = 60.0  # seconds: a hang guard only


@pytest.fixture(scope="module")
def zone_dns() -> Iterator[tuple[str, int]]:
    with zone_server(ZONE) as address:
        yield address


def show(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def named_box(home: Path, **settings: Any) -> BoxPaths:
    """A box with a key (so a name: 127-0-0-1.<label>.<zone>) and the given settings."""
    paths = BoxPaths(home)
    home.mkdir(parents=True)
    fields: dict[str, Any] = {"server": "http://127.0.0.1:8069", "lan_ip": "127.0.0.1", **settings}
    save_config(paths, BoxConfig(**fields))
    pki.atomic_write(paths.key, pki.private_key_pem(pki.make_ec_key()), 0o600)
    return paths


def diagnose(paths: BoxPaths, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = cli("box", "--home", str(paths.home), "diagnose", "--json", *args,
                    stdout_only=True)  # fmt: skip
    return code, json.loads(out)


@needs_dnsmasq
def test_rebinding_protection_is_suspected_then_ok_once_the_zone_is_allowed(
    tmp_path: Path, zone_dns: tuple[str, int]
) -> None:
    paths = named_box(tmp_path / "box", zone_dns=[show(zone_dns)])
    found = target(paths, BoxConfig(lan_ip="127.0.0.1"))
    assert found is not None and found.name.startswith("127-0-0-1.")
    with dnsmasq(ZONE, zone_dns, "--stop-dns-rebind") as router:
        code, out = cli("box", "--home", str(paths.home), "configure",
                        "--lan-resolver", show(router.address))  # fmt: skip
        assert code == 0, out
        code, report = diagnose(paths)
        assert code == 1 and report["verdict"] == "rebinding_suspected" and not report["ok"]
        assert report["name"] == found.name and report["expected"] == "127.0.0.1"
        assert report["lan"]["outcome"] == "no_address" and report["zone"]["addresses"] == [
            "127.0.0.1"
        ]
        assert f"rebind-domain-ok=/{ZONE}/" in report["remedy"]  # the zone filled in
        assert report["help"] == "/box/diagnosis/rebinding_suspected"
        assert "possible DNS-rebind attack" in router.log()
        code, text = cli("box", "--home", str(paths.home), "diagnose")
        assert code == 1 and "PROBLEM: The router hides the box's name" in text
        assert "do:" in text and "/box/diagnosis/rebinding_suspected" in text
    with dnsmasq(ZONE, zone_dns, "--stop-dns-rebind", f"--rebind-domain-ok=/{ZONE}/") as router:
        code, report = diagnose(paths, "--lan-resolver", show(router.address))  # option wins
        assert code == 0 and report["verdict"] == "ok", report


@needs_unbound
def test_unbound_with_private_address_is_the_same_case(
    tmp_path: Path, zone_dns: tuple[str, int]
) -> None:
    paths = named_box(tmp_path / "box", zone_dns=[show(zone_dns)])
    with unbound(ZONE, zone_dns, ["private-address: 127.0.0.0/8"]) as router:
        code, report = diagnose(paths, "--lan-resolver", show(router.address))
    assert code == 1 and report["verdict"] == "rebinding_suspected", report


@needs_dnsmasq
def test_a_resolver_that_gives_another_address(tmp_path: Path, zone_dns: tuple[str, int]) -> None:
    paths = named_box(tmp_path / "box", zone_dns=[show(zone_dns)])
    found = target(paths, BoxConfig(lan_ip="127.0.0.1"))
    assert found is not None
    with dnsmasq(ZONE, zone_dns, f"--address=/{found.name}/192.168.1.77") as router:
        code, report = diagnose(paths, "--lan-resolver", show(router.address))
    assert code == 1 and report["verdict"] == "wrong_address"
    assert report["lan"]["addresses"] == ["192.168.1.77"]


def test_a_resolver_that_is_down(tmp_path: Path, zone_dns: tuple[str, int]) -> None:
    paths = named_box(tmp_path / "box", zone_dns=[show(zone_dns)])
    code, report = diagnose(paths, "--lan-resolver", f"127.0.0.1:{free_port()}")
    assert code == 1 and report["verdict"] == "lan_resolver_unreachable", report


@needs_dnsmasq
def test_a_zone_that_is_down(tmp_path: Path) -> None:
    dead = ("127.0.0.1", free_port())
    paths = named_box(tmp_path / "box", zone_dns=[show(dead)])
    with dnsmasq(ZONE, dead) as router:
        code, report = diagnose(paths, "--lan-resolver", show(router.address))
    assert code == 1 and report["verdict"] == "zone_unreachable", report


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    save_config(paths, BoxConfig(server="http://127.0.0.1:8069"))
    no_key = box_process(paths.home, "diagnose")
    assert no_key.returncode == 3 and "no key yet" in no_key.stderr
    assert "Traceback" not in no_key.stderr and len(no_key.stderr.strip().splitlines()) == 1
    pki.atomic_write(paths.key, pki.private_key_pem(pki.make_ec_key()), 0o600)
    bad = box_process(paths.home, "diagnose", "--lan-resolver", "router.lan")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    refused = box_process(paths.home, "configure", "--lan-resolver", "router.lan")
    assert refused.returncode == 2 and "must be an IP address" in refused.stderr


def wait_for_row(get: Any, text: str) -> str:
    deadline = time.monotonic() + GUARD  # a hang guard, not a time bound
    while True:
        page: str = get()
        if text in page:
            return page
        assert time.monotonic() < deadline, page
        time.sleep(0.1)


@needs_dnsmasq
def test_the_homepage_row_is_debounced_and_cached(
    tmp_path: Path, zone_dns: tuple[str, int]
) -> None:
    with dnsmasq(ZONE, zone_dns, "--stop-dns-rebind") as router:
        settings = {"lan_resolver": show(router.address), "zone_dns": [show(zone_dns)]}
        with front(tmp_path, settings=settings) as f, f.client() as client:
            page = wait_for_row(lambda: client.get(f.url("/")).text, "The router hides")
            assert 'id="dns-state">The router hides the box&#39;s name<' in page
            assert f"rebind-domain-ok=/{ZONE}/" in page
            assert 'href="/box/diagnosis/rebinding_suspected"' in page
            for _ in range(20):
                client.get(f.url("/"))
            assert f.backend.dns_watch.lookups_started == 1
            assert router.log().count(f"query[A] {f.box.host}") == 1
            help_page = client.get(f.url("/box/diagnosis/rebinding_suspected"))
            assert help_page.status_code == 200 and "DNS rebinding" in help_page.text
            assert "&lt;zone&gt;" not in help_page.text and ZONE in help_page.text
            assert client.get(f.url("/box/diagnosis/")).status_code == 200
            assert client.get(f.url("/box/diagnosis/nope")).status_code == 404


def test_the_page_never_waits_for_dns(tmp_path: Path, zone_dns: tuple[str, int]) -> None:
    """A LAN resolver that swallows queries: the page answers at once, saying it is looking,
    and shows the verdict once the lookup has given up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        settings = {"lan_resolver": show(silent.getsockname()), "zone_dns": [show(zone_dns)]}
        paths = named_box(tmp_path / "box", **settings)
        watch = DnsWatch(paths)
        first = watch.view()
        assert first.diagnosis is None and first.running and first.named
        assert watch.view().running and watch.lookups_started == 1  # never two at once
        deadline = time.monotonic() + GUARD
        while watch.view(refresh=False).running:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    done = watch.view(refresh=False).diagnosis
    assert done is not None and done.verdict.value == "lan_resolver_unreachable"
