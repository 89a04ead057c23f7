"""The zone on PowerDNS: the same IP-in-name answers as our server, TXT by TSIG-signed dynamic
updates, and an ACME order whose DNS-01 Pebble validates through PowerDNS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from boxcert import devstack, naming, pki
from boxcert.dns.answer import StaticZoneData, ZoneConfig, answer
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.rfc2136 import (
    Rfc2136TxtStore,
    TsigKey,
    TxtUpdateError,
    load_tsig_key,
    parse_tsig_key,
)
from tests.powerdns import PowerDns, needs_powerdns, powerdns

ZONE = "iot.boxcert.test"
L = "abcdefghijklmnop"

pytestmark = needs_powerdns


@pytest.fixture
def pdns(tmp_path: Path) -> Iterator[PowerDns]:
    with powerdns(tmp_path / "pdns", ZONE) as server:
        yield server


def addresses(response: dns.message.Message, rdtype: int) -> list[str]:
    return sorted(str(r) for rrset in response.answer if rrset.rdtype == rdtype for r in rrset)


NAMES = [
    f"192-168-1-5.{L}",
    f"10-0-0-1.{L}",
    f"172-16-5-4.{L}",
    f"100-64-0-1.{L}",
    f"127-0-0-1.{L}",
    f"169-254-1-1.{L}",
    f"192-168-1-5.{L.upper()}",
    f"8-8-8-8.{L}",
    f"172-32-0-1.{L}",
    f"256-1-1-1.{L}",
    "192-168-1-5.abcdefgh",
    f"192-168-1-5.{L[:-1]}1",
    f"1-2-3-4.x.{L}",
    f"a-b-c-d.{L}",
    f"fd00--1.{L}",
    f"fe80--1.{L}",
    f"--1.{L}",
    f"2001-db8--1.{L}",
    f"fd00-1.{L}",
]


@pytest.mark.parametrize("host", NAMES)
def test_same_addresses_as_our_server(pdns: PowerDns, host: str) -> None:
    name = f"{host}.{ZONE}"
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        query = dns.message.make_query(name, rdtype)
        theirs = dns.query.udp(query, pdns.address[0], port=pdns.address[1], timeout=3)
        ours = answer(query, ZoneConfig(ZONE), StaticZoneData({}))
        assert addresses(theirs, rdtype) == addresses(ours, rdtype), (name, rdtype)


def test_public_addresses_get_no_answer_from_either(pdns: PowerDns) -> None:
    query = dns.message.make_query(f"8-8-8-8.{L}.{ZONE}", "A")
    theirs = dns.query.udp(query, pdns.address[0], port=pdns.address[1], timeout=3)
    assert theirs.answer == []


def served_txt(pdns: PowerDns, name: str) -> set[str]:
    response = dns.query.tcp(
        dns.message.make_query(name, "TXT"), pdns.address[0], port=pdns.address[1], timeout=3
    )
    return {b"".join(r.strings).decode() for rrset in response.answer for r in rrset}


def test_txt_values_by_signed_updates(pdns: PowerDns) -> None:
    store = Rfc2136TxtStore(pdns.address, ZONE, load_tsig_key(pdns.key_file))
    name = f"_acme-challenge.{L}.{ZONE}"
    store.publish(name, "value-one")
    store.publish(name, "value-one")  # idempotent
    store.publish(name, "value-two")
    assert served_txt(pdns, name) == {"value-one", "value-two"}
    store.remove(name, "value-one")
    assert served_txt(pdns, name) == {"value-two"}
    store.remove(name, "value-one")  # removing what is gone changes nothing
    store.remove(name, "value-two")
    assert served_txt(pdns, name) == set()
    # the wildcard still answers the hosts of that label
    query = dns.message.make_query(f"192-168-1-5.{L}.{ZONE}", "A")
    theirs = dns.query.udp(query, pdns.address[0], port=pdns.address[1], timeout=3)
    assert addresses(theirs, dns.rdatatype.A) == ["192.168.1.5"]


def test_unsigned_or_wrongly_signed_updates_are_refused(pdns: PowerDns) -> None:
    good = load_tsig_key(pdns.key_file)
    wrong = TsigKey(good.name, good.algorithm, bytes(32))
    store = Rfc2136TxtStore(pdns.address, ZONE, wrong)
    with pytest.raises(TxtUpdateError, match="does not accept the TSIG key"):
        store.publish(f"_acme-challenge.{L}.{ZONE}", "forged")
    assert served_txt(pdns, f"_acme-challenge.{L}.{ZONE}") == set()
    with pytest.raises(TxtUpdateError, match="not in the zone"):
        Rfc2136TxtStore(pdns.address, ZONE, good).publish("_acme-challenge.example.org", "x")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no `key"),
        ('key "k" { algorithm hmac-md5; secret "AAAAAAAAAAAAAAAAAAAAAA=="; };', "not one of"),
        ('key "k" { algorithm hmac-sha256; secret "not base64!"; };', "not base64"),
        ('key "k" { algorithm hmac-sha256; secret "AAAA"; };', "shorter than 128 bits"),
    ],
)
def test_key_file_errors_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_tsig_key(text)


def test_key_repr_hides_the_secret() -> None:
    key = parse_tsig_key('key "k." {\n algorithm HMAC-SHA256;\n secret "' + "A" * 44 + '";\n};')
    assert key.name == "k" and key.algorithm == "hmac-sha256"
    assert "A" * 10 not in repr(key)


@pytest.mark.slow
@pytest.mark.skipif(not devstack.pebble_available(), reason="pebble not installed")
def test_acme_order_validated_through_powerdns(tmp_path: Path, pdns: PowerDns) -> None:
    pebble = devstack.start_pebble(tmp_path / "pebble", pdns.address)
    try:
        store = Rfc2136TxtStore(pdns.address, ZONE, load_tsig_key(pdns.key_file))
        options = AcmeOptions(
            directory_url=pebble.directory_url,
            ca_bundle=str(pebble.tls_ca),
            dns_servers=(pdns.address,),
            propagation_timeout=30,
        )
        ca = AcmeCA(tmp_path / "acme", options, store)
        key = pki.make_ec_key()
        label = naming.box_label(pki.spki_der(key.public_key()))
        names = naming.certificate_names(label, ZONE)
        issued = asyncio.run(ca.issue(pki.make_csr(key, names), names))
        chain = pki.load_chain(issued.chain_pem)
        root = pki.load_chain(pebble.root_pem())
        pki.verify_server_chain(chain, root, names[1], chain[0].not_valid_before_utc)
        assert set(pki.dns_names(chain[0])) == set(names)
        assert served_txt(pdns, f"_acme-challenge.{label}.{ZONE}") == set()  # cleaned up
    finally:
        pebble.stop()
