"""The DNS diagnosis against real resolvers: dnsmasq and unbound as the router, in front of our
own authoritative server, with their rebinding protection on and off."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from boxcert.box.diagnosis.dns_probe import (
    CachedDiagnosis,
    DnsSettings,
    diagnose,
    parse_server,
    zone_servers,
)
from boxcert.box.diagnosis.dns_verdict import DnsVerdict
from boxcert.devstack import free_port
from boxcert.dns.answer import StaticZoneData, ZoneConfig
from boxcert.dns.server import DnsServer
from tests.dns_running import Running
from tests.resolvers import dnsmasq, needs_dnsmasq, needs_unbound, unbound

ZONE = "iot.boxcert.test"
IP = ipaddress.ip_address("192.168.1.5")
NAME = f"192-168-1-5.abcdefghijklmnop.{ZONE}"


@pytest.fixture(scope="module")
def zone_server() -> Iterator[tuple[str, int]]:
    config = ZoneConfig(ZONE, ns_addresses=(ipaddress.ip_address("127.0.0.1"),))
    with Running(DnsServer(config, StaticZoneData({}), "127.0.0.1", 0)) as port:
        yield ("127.0.0.1", port)


@needs_dnsmasq
@pytest.mark.parametrize(
    ("flags", "verdict"),
    [
        (("--stop-dns-rebind",), DnsVerdict.REBINDING_SUSPECTED),
        (("--stop-dns-rebind", f"--rebind-domain-ok=/{ZONE}/"), DnsVerdict.OK),
        ((), DnsVerdict.OK),
        ((f"--address=/{NAME}/192.168.1.77",), DnsVerdict.WRONG_ADDRESS),  # stale or split DNS
    ],
)
def test_dnsmasq_router(
    zone_server: tuple[str, int], flags: tuple[str, ...], verdict: DnsVerdict
) -> None:
    with dnsmasq(ZONE, zone_server, *flags) as router:
        diagnosis = diagnose(NAME, IP, router.address, [zone_server])
        assert diagnosis.verdict is verdict, diagnosis.detail
        if verdict is DnsVerdict.REBINDING_SUSPECTED:
            assert "possible DNS-rebind attack" in router.log()


@needs_unbound
@pytest.mark.parametrize(
    ("extra", "verdict"),
    [
        (["private-address: 192.168.0.0/16"], DnsVerdict.REBINDING_SUSPECTED),
        (["private-address: 192.168.0.0/16", f'private-domain: "{ZONE}"'], DnsVerdict.OK),
    ],
)
def test_unbound_router(
    zone_server: tuple[str, int], extra: list[str], verdict: DnsVerdict
) -> None:
    with unbound(ZONE, zone_server, extra) as router:
        assert diagnose(NAME, IP, router.address, [zone_server]).verdict is verdict


def test_lan_resolver_down(zone_server: tuple[str, int]) -> None:
    diagnosis = diagnose(NAME, IP, ("127.0.0.1", free_port()), [zone_server], timeout=0.5)
    assert diagnosis.verdict is DnsVerdict.LAN_RESOLVER_UNREACHABLE


@needs_dnsmasq
def test_zone_down(tmp_path: object) -> None:
    dead = ("127.0.0.1", free_port())
    with dnsmasq(ZONE, dead) as router:
        diagnosis = diagnose(NAME, IP, router.address, [dead], timeout=0.5)
    assert diagnosis.verdict is DnsVerdict.ZONE_UNREACHABLE, diagnosis.detail


@needs_dnsmasq
def test_zone_servers_found_by_ns_lookup(zone_server: tuple[str, int]) -> None:
    with dnsmasq(ZONE, zone_server) as router:
        assert zone_servers(ZONE, router.address) == [("127.0.0.1", 53)]


@needs_dnsmasq
def test_cached_for_the_ttl_and_asked_again_after(zone_server: tuple[str, int]) -> None:
    now = [datetime(2026, 11, 1, tzinfo=UTC)]
    with dnsmasq(ZONE, zone_server, "--stop-dns-rebind") as router:
        cache = CachedDiagnosis(
            DnsSettings(ZONE, lan_resolver=router.address, zone_dns=(zone_server,)),
            clock=lambda: now[0],
        )
        for _ in range(5):
            got = cache.get(NAME, IP)
            assert got is not None and got.verdict is DnsVerdict.REBINDING_SUSPECTED
        assert router.log().count(f"query[A] {NAME}") == 1
        now[0] += timedelta(minutes=11)  # past any TTL we keep
        cache.get(NAME, IP)
        assert router.log().count(f"query[A] {NAME}") == 2


def test_parse_server() -> None:
    assert parse_server("192.168.1.1") == ("192.168.1.1", 53)
    assert parse_server("[::1]:5353") == ("::1", 5353)
    with pytest.raises(ValueError):
        parse_server("router.lan")
