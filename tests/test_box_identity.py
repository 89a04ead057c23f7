"""box/identity: the box's label and names from its key, its LAN address and URL."""

from __future__ import annotations

import ipaddress

from boxcert import naming, pki
from boxcert.box.config import BoxConfig
from boxcert.box.identity import box_names, identify, lan_address


def test_names_follow_from_the_key_and_zone() -> None:
    key = pki.make_ec_key()
    label = naming.box_label(pki.spki_der(key.public_key()))
    assert box_names(key, "Iot.Example.") == (f"*.{label}.iot.example", f"{label}.iot.example")


def test_a_configured_address_wins() -> None:
    config = BoxConfig(server="http://127.0.0.1:8069", lan_ip="192.168.1.23")
    assert lan_address(config) == ipaddress.ip_address("192.168.1.23")


def test_the_route_towards_the_server() -> None:
    assert lan_address(BoxConfig(server="http://127.0.0.1:8069")) == ipaddress.ip_address(
        "127.0.0.1"
    )
    # a server by name: no name is resolved; the address routing to a private one is used
    assert isinstance(lan_address(BoxConfig(server="http://hub.invalid")), ipaddress.IPv4Address)


def test_identify() -> None:
    key = pki.make_ec_key()
    config = BoxConfig(server="http://127.0.0.1:8069", lan_ip="10.1.2.3", https_port=8443)
    identity = identify(key, config, "iot.example.net")
    assert identity.names == box_names(key, "iot.example.net")
    assert identity.label == naming.box_label(pki.spki_der(key.public_key()))
    assert identity.url == f"https://10-1-2-3.{identity.label}.iot.example.net:8443"
    assert identify(key, BoxConfig(lan_ip="10.1.2.3"), "a.b").url.endswith(".a.b")  # port 443
    # without a zone learnt: the override, else the default zone
    assert identify(key, BoxConfig(zone="o.example")).names == box_names(key, "o.example")
    assert identify(key, BoxConfig()).names == box_names(key, naming.DEFAULT_ZONE)
