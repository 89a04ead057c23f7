from __future__ import annotations

import ipaddress

import pytest

from boxcert import naming


@pytest.mark.parametrize(
    ("label", "ip"),
    [
        ("192-168-1-5", "192.168.1.5"),
        ("10-0-0-1", "10.0.0.1"),
        ("fd00--1", "fd00::1"),
        ("--1", "::1"),
        ("fe80--1ff-fe23-4567-890a", "fe80::1ff:fe23:4567:890a"),
    ],
)
def test_ip_labels_round_trip(label: str, ip: str) -> None:
    addr = ipaddress.ip_address(ip)
    assert naming.label_to_ip(label) == addr
    assert naming.ip_to_label(addr) == label


@pytest.mark.parametrize("label", ["300-1-1-1", "1-2-3", "www", "abcdefghijklmnop", "fd00---1", ""])
def test_not_ip_labels(label: str) -> None:
    assert naming.label_to_ip(label) is None


@pytest.mark.parametrize(
    ("ip", "lan"),
    [
        ("192.168.1.5", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.32.0.1", False),
        ("100.64.1.1", True),
        ("127.0.0.1", True),
        ("169.254.1.1", True),
        ("8.8.8.8", False),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::1", True),
        ("2001:db8::1", False),
    ],
)
def test_lan_addresses(ip: str, lan: bool) -> None:
    assert naming.is_lan_address(ipaddress.ip_address(ip)) is lan


def test_labels() -> None:
    label = naming.box_label(b"some spki")
    assert naming.is_label(label) and len(label) == 16
    assert naming.box_label(b"some spki") == label
    assert naming.box_label(b"other spki") != label
    a = naming.database_label("UUID-1", b"secret")
    assert naming.is_label(a)
    assert naming.database_label("uuid-1", b"secret") == a  # case does not matter
    assert naming.database_label("uuid-1", b"other secret") != a


def test_names_and_urls() -> None:
    names = naming.certificate_names("abc", "IoT.Example.")
    assert names == ("*.abc.iot.example", "abc.iot.example")
    ip = ipaddress.ip_address("192.168.1.5")
    assert naming.box_url(ip, "abc", "z.test") == "https://192-168-1-5.abc.z.test"
    assert naming.box_url(ip, "abc", "z.test", 8443) == "https://192-168-1-5.abc.z.test:8443"
    with pytest.raises(ValueError, match="not a DNS zone"):
        naming.normalize_zone("a..b")
