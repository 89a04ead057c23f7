"""The zone's answers as a pure function: query in, response out, no sockets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.update
import pytest

from boxcert.dns.answer import EDNS_PAYLOAD, StaticZoneData, ZoneConfig, answer, txt_name

Z = "iot.boxcert.test"
L = "abcdefghijklmnop"  # a valid holder label: 16 characters of [a-z2-7]
OTHER = "qrstuvwxyz234567"
ACME = f"_acme-challenge.{L}.{Z}"
VALUES = ["first-token-value", "second-token-value"]
DATA = StaticZoneData({ACME: VALUES})
SOA_TEXT = f"ns1.{Z}. hostmaster.{Z}. 1 3600 600 1209600 60"


@dataclass(frozen=True)
class Reply:
    rcode: str
    answers: list[str]  # "TYPE rdata", sorted (an RRset has no order)
    aa: bool
    negative_soa: bool
    message: dns.message.Message


def ask(
    name: str,
    rdtype: str = "A",
    zone: ZoneConfig | None = None,
    data: StaticZoneData = DATA,
    *,
    edns: int = -1,
    opcode: dns.opcode.Opcode = dns.opcode.QUERY,
    rdclass: dns.rdataclass.RdataClass = dns.rdataclass.IN,
) -> Reply:
    query: dns.message.Message = dns.message.make_query(name, rdtype, rdclass, use_edns=edns)
    if opcode == dns.opcode.UPDATE:
        query = dns.update.UpdateMessage(Z)  # its zone section is the question
    query.set_opcode(opcode)
    # Through the wire both ways, as the transport does.
    parsed = dns.message.from_wire(query.to_wire())
    response = dns.message.from_wire(answer(parsed, zone or ZoneConfig(Z), data).to_wire())
    assert response.id == query.id
    assert not response.flags & dns.flags.RA
    answers = sorted(
        f"{dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}"
        for rrset in response.answer
        for rdata in rrset
    )
    negative = [r for r in response.authority if r.rdtype == dns.rdatatype.SOA]
    return Reply(
        rcode=dns.rcode.to_text(response.rcode()),
        answers=answers,
        aa=bool(response.flags & dns.flags.AA),
        negative_soa=bool(negative) and negative[0].to_text().split()[-7:] == SOA_TEXT.split(),
        message=response,
    )


PUBLIC = ZoneConfig(Z, allow_public=True)
WITH_NS = ZoneConfig(
    Z,
    ns_names=("ns1.iot.boxcert.test", "ns2.iot.boxcert.test", "dns.example.net."),
    ns_addresses=(ipaddress.ip_address("192.0.2.53"), ipaddress.ip_address("2001:db8::53")),
)

# name, type, zone, rcode, answers ([] with NOERROR is NODATA)
CASES: list[tuple[str, str, ZoneConfig | None, str, list[str]]] = [
    (f"192-168-1-5.{L}.{Z}", "A", None, "NOERROR", ["A 192.168.1.5"]),
    (f"10-0-0-1.{L}.{Z}", "A", None, "NOERROR", ["A 10.0.0.1"]),
    (f"fd00--1.{L}.{Z}", "AAAA", None, "NOERROR", ["AAAA fd00::1"]),
    (f"fe80--1-2.{L}.{Z}", "AAAA", None, "NOERROR", ["AAAA fe80::1:2"]),
    (f"192-168-1-5.{L}.{Z}", "AAAA", None, "NOERROR", []),
    (f"fd00--1.{L}.{Z}", "A", None, "NOERROR", []),
    (f"192-168-1-5.{L}.{Z}", "MX", None, "NOERROR", []),
    # public addresses: the name does not exist unless the zone allows them
    (f"8-8-8-8.{L}.{Z}", "A", None, "NXDOMAIN", []),
    (f"2001-db8--1.{L}.{Z}", "AAAA", None, "NXDOMAIN", []),
    (f"8-8-8-8.{L}.{Z}", "A", PUBLIC, "NOERROR", ["A 8.8.8.8"]),
    (f"2001-db8--1.{L}.{Z}", "AAAA", PUBLIC, "NOERROR", ["AAAA 2001:db8::1"]),
    # not an address, or not a label
    (f"192-168-1-500.{L}.{Z}", "A", None, "NXDOMAIN", []),
    (f"192-168-1-5.notalabel.{Z}", "A", None, "NXDOMAIN", []),
    (f"192-168-1-5.{L}x.{Z}", "A", None, "NXDOMAIN", []),
    (f"www.{L}.{Z}", "A", None, "NXDOMAIN", []),
    (f"x.192-168-1-5.{L}.{Z}", "A", None, "NXDOMAIN", []),
    (f"nothing.{Z}", "A", None, "NXDOMAIN", []),
    (f"ns1.{Z}", "A", None, "NOERROR", []),  # default NS name exists, no address given
    # the holder label exists but holds nothing
    (f"{L}.{Z}", "A", None, "NOERROR", []),
    (f"{L}.{Z}", "TXT", None, "NOERROR", []),
    # DNS-01 values
    (ACME, "TXT", None, "NOERROR", [f'TXT "{v}"' for v in VALUES]),
    (f"_acme-challenge.{OTHER}.{Z}", "TXT", None, "NOERROR", []),
    (ACME, "A", None, "NOERROR", []),
    (f"_acme-challenge.{L}.nope.{Z}", "TXT", None, "NXDOMAIN", []),
    (f"_acme-challenge.192-168-1-5.{L}.{Z}", "TXT", None, "NXDOMAIN", []),
    # apex
    (Z, "SOA", None, "NOERROR", [f"SOA {SOA_TEXT}"]),
    (Z, "NS", None, "NOERROR", [f"NS ns1.{Z}."]),
    (Z, "A", None, "NOERROR", []),
    (Z, "TXT", None, "NOERROR", []),
    (Z, "NS", WITH_NS, "NOERROR", [f"NS ns1.{Z}.", f"NS ns2.{Z}.", "NS dns.example.net."]),
    (f"ns2.{Z}", "A", WITH_NS, "NOERROR", ["A 192.0.2.53"]),
    (f"ns1.{Z}", "AAAA", WITH_NS, "NOERROR", ["AAAA 2001:db8::53"]),
    (f"ns1.{Z}", "TXT", WITH_NS, "NOERROR", []),
    (f"ns3.{Z}", "A", WITH_NS, "NXDOMAIN", []),
    # RFC 8482: one RRset for ANY
    (Z, "ANY", None, "NOERROR", [f"SOA {SOA_TEXT}"]),
    (f"192-168-1-5.{L}.{Z}", "ANY", None, "NOERROR", ["A 192.168.1.5"]),
    (ACME, "ANY", None, "NOERROR", [f'TXT "{v}"' for v in VALUES]),
    (f"{L}.{Z}", "ANY", None, "NOERROR", []),
    (f"nothing.{Z}", "ANY", None, "NXDOMAIN", []),
]


@pytest.mark.parametrize(("name", "rdtype", "zone", "rcode", "answers"), CASES)
def test_answer_table(
    name: str, rdtype: str, zone: ZoneConfig | None, rcode: str, answers: list[str]
) -> None:
    reply = ask(name, rdtype, zone)
    assert (reply.rcode, reply.answers) == (rcode, sorted(answers))
    assert reply.aa
    # RFC 2308: NXDOMAIN and NODATA both carry the SOA, with the negative TTL
    assert reply.negative_soa == (not answers)
    if not answers:
        assert reply.message.authority[0].ttl == 60


@pytest.mark.parametrize("name", ["example.com", "boxcert.test", f"{Z}.evil.example", "com", "."])
def test_outside_the_zone_is_refused_without_authority(name: str) -> None:
    reply = ask(name)
    assert reply.rcode == "REFUSED"
    assert not reply.aa
    assert reply.answers == [] and reply.message.authority == []


def test_ttls() -> None:
    assert ask(f"192-168-1-5.{L}.{Z}").message.answer[0].ttl == 300
    assert ask(ACME, "TXT").message.answer[0].ttl == 60
    assert ask(Z, "SOA").message.answer[0].ttl == 300


def test_ns_answer_carries_glue_for_names_inside_the_zone() -> None:
    additional = ask(Z, "NS", WITH_NS).message.additional
    glue = sorted(f"{r.name} {dns.rdatatype.to_text(r.rdtype)}" for r in additional)
    assert glue == [f"ns1.{Z}. A", f"ns1.{Z}. AAAA", f"ns2.{Z}. A", f"ns2.{Z}. AAAA"]


def test_case_of_the_question_is_echoed() -> None:
    asked = "192-168-1-5.ABCDEFGHIJKLMNOP.IoT.BoxCert.Test."
    response = ask(asked).message
    assert response.question[0].name.to_text() == asked
    assert response.answer[0].name.to_text() == asked
    assert ask(asked).answers == ["A 192.168.1.5"]
    assert ask(f"_ACME-Challenge.{L.upper()}.{Z}", "TXT").answers == [f'TXT "{v}"' for v in VALUES]


def test_zone_name_is_normalized() -> None:
    zone = ZoneConfig("IoT.BoxCert.Test.")
    assert zone.zone == Z and zone.ns_names == (f"ns1.{Z}",)
    assert ask(f"192-168-1-5.{L}.{Z}", zone=zone).answers == ["A 192.168.1.5"]


@pytest.mark.parametrize(
    "opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS, dns.opcode.IQUERY]
)
def test_only_query_opcode_is_implemented(opcode: dns.opcode.Opcode) -> None:
    reply = ask(f"192-168-1-5.{L}.{Z}", opcode=opcode)
    assert reply.rcode == "NOTIMP" and reply.answers == []
    assert reply.message.opcode() == opcode


def test_other_classes_are_refused() -> None:
    assert ask(Z, "SOA", rdclass=dns.rdataclass.CH).rcode == "REFUSED"
    assert ask("version.bind", "TXT", rdclass=dns.rdataclass.CH).rcode == "REFUSED"


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_zone_transfers_are_refused(rdtype: str) -> None:
    assert ask(Z, rdtype).rcode == "REFUSED"


def test_edns_is_echoed_only_when_asked() -> None:
    with_edns = ask(f"192-168-1-5.{L}.{Z}", edns=0).message
    assert with_edns.edns == 0 and with_edns.payload == EDNS_PAYLOAD
    assert ask(f"192-168-1-5.{L}.{Z}").message.edns == -1


def test_unknown_edns_version_is_badvers() -> None:
    reply = ask(f"192-168-1-5.{L}.{Z}", edns=1)
    assert reply.rcode == "BADVERS"
    assert reply.message.edns == 0


def test_no_question_is_formerr() -> None:
    query = dns.message.Message()
    response = answer(query, ZoneConfig(Z), DATA)
    assert response.rcode() == dns.rcode.FORMERR


def test_recursion_desired_is_copied_and_never_available() -> None:
    query = dns.message.make_query(f"192-168-1-5.{L}.{Z}", "A")
    assert query.flags & dns.flags.RD
    response = answer(query, ZoneConfig(Z), DATA)
    assert response.flags & dns.flags.RD and not response.flags & dns.flags.RA
    query.flags &= ~dns.flags.RD
    assert not answer(query, ZoneConfig(Z), DATA).flags & dns.flags.RD


def test_long_txt_values_are_split_into_strings() -> None:
    value = "x" * 300
    reply = ask(ACME, "TXT", data=StaticZoneData({ACME: [value]}))
    assert reply.answers == [f'TXT "{"x" * 255}" "{"x" * 45}"']


def test_txt_name_tells_which_name_the_answer_reads() -> None:
    def query(name: str, rdtype: str = "TXT") -> dns.message.Message:
        return dns.message.make_query(name, rdtype)

    zone = ZoneConfig(Z)
    assert txt_name(query(ACME), zone) == ACME
    assert txt_name(query(ACME.upper(), "ANY"), zone) == ACME
    assert txt_name(query(ACME, "A"), zone) is None
    assert txt_name(query(f"192-168-1-5.{L}.{Z}"), zone) is None
    assert txt_name(query(f"_acme-challenge.{L}.example.com"), zone) is None


class Failing(StaticZoneData):
    def txt_values(self, name: str) -> list[str]:
        raise OSError("database down")


def test_data_errors_reach_the_transport() -> None:
    # The transport turns this into SERVFAIL; the answer never pretends the name is empty.
    query = dns.message.make_query(ACME, "TXT")
    with pytest.raises(OSError):
        answer(query, ZoneConfig(Z), Failing({}))
    # Queries that do not read the data are unaffected.
    a_query = dns.message.make_query(f"192-168-1-5.{L}.{Z}", "A")
    assert answer(a_query, ZoneConfig(Z), Failing({})).answer


@pytest.mark.parametrize(
    "name",
    [
        f"_acme-challenge.{L}\\010.{Z}",  # the holder label ending in a newline
        f"{L}\\010.{Z}",
        f"192-168-1-5\\010.{L}.{Z}",  # the address label ending in a newline
        f"fd00--1\\010.{L}.{Z}",
    ],
)
def test_a_label_ending_in_a_newline_does_not_exist(name: str) -> None:
    for rdtype in ("A", "AAAA", "TXT"):
        reply = ask(name, rdtype)
        assert reply.rcode == "NXDOMAIN" and reply.answers == [] and reply.negative_soa
    assert txt_name(dns.message.make_query(name, "TXT"), ZoneConfig(Z)) is None
