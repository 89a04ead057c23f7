"""The DNS diagnosis as a table: two lookups in, one verdict out."""

from __future__ import annotations

import ipaddress

import pytest

from boxcert.box.diagnosis.dns_verdict import DnsVerdict, Lookup, Outcome, classify, said

IP = ipaddress.ip_address("192.168.1.5")
NAME = "192-168-1-5.abcdefghijklmnop.iot.boxcert.test"


def lk(outcome: Outcome, *addresses: str, error: str = "") -> Lookup:
    return Lookup("10.0.0.1:53", outcome, tuple(addresses), 60, error)


RIGHT = lk(Outcome.ADDRESSES, "192.168.1.5")
OTHER = lk(Outcome.ADDRESSES, "192.168.1.9")
EMPTY = lk(Outcome.NO_ADDRESS)
NX = lk(Outcome.NXDOMAIN)
REFUSED = lk(Outcome.REFUSED)
DOWN = lk(Outcome.UNREACHABLE, error="timed out")
FAIL = lk(Outcome.SERVFAIL)


@pytest.mark.parametrize(
    ("lan", "zone", "verdict"),
    [
        (RIGHT, RIGHT, DnsVerdict.OK),
        (RIGHT, DOWN, DnsVerdict.OK),  # the LAN is what matters
        (lk(Outcome.ADDRESSES, "192.168.1.5", "10.0.0.7"), RIGHT, DnsVerdict.OK),
        (EMPTY, RIGHT, DnsVerdict.REBINDING_SUSPECTED),
        (NX, RIGHT, DnsVerdict.REBINDING_SUSPECTED),
        (REFUSED, RIGHT, DnsVerdict.REBINDING_SUSPECTED),
        (OTHER, RIGHT, DnsVerdict.WRONG_ADDRESS),
        (DOWN, RIGHT, DnsVerdict.LAN_RESOLVER_UNREACHABLE),
        (FAIL, RIGHT, DnsVerdict.LAN_RESOLVER_UNREACHABLE),
        (DOWN, DOWN, DnsVerdict.ZONE_UNREACHABLE),
        (EMPTY, FAIL, DnsVerdict.ZONE_UNREACHABLE),
        (NX, NX, DnsVerdict.NAME_NOT_SERVED),
        (EMPTY, OTHER, DnsVerdict.NAME_NOT_SERVED),
    ],
)
def test_verdicts(lan: Lookup, zone: Lookup, verdict: DnsVerdict) -> None:
    diagnosis = classify(NAME, IP, lan, zone)
    assert diagnosis.verdict is verdict
    assert diagnosis.name == NAME and diagnosis.expected == "192.168.1.5"


def test_detail_names_both_answers() -> None:
    detail = classify(NAME, IP, EMPTY, RIGHT).detail
    assert "an empty answer" in detail and "192.168.1.5" in detail and "10.0.0.1:53" in detail
    assert "192.168.1.9" in classify(NAME, IP, OTHER, RIGHT).detail
    assert "timed out" in classify(NAME, IP, DOWN, RIGHT).detail


@pytest.mark.parametrize(
    ("lookup", "words"),
    [
        (RIGHT, "answered 192.168.1.5"),
        (EMPTY, "gave an empty answer"),
        (NX, "answered 'no such name'"),
        (REFUSED, "refused to answer"),
        (FAIL, "answered 'server failure'"),
        (DOWN, "did not answer (timed out)"),
        (lk(Outcome.UNREACHABLE), "did not answer"),
    ],
)
def test_what_a_resolver_did_reads_after_its_name(lookup: Lookup, words: str) -> None:
    assert said(lookup) == words
    detail = classify(NAME, IP, lookup, RIGHT).detail
    assert f"the LAN's resolver (10.0.0.1:53) {words}" in detail or lookup is RIGHT
