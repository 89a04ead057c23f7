"""The fast path gives dnspython's bytes: on the whole answer table, and on generated queries.

The reference is :func:`answer` on the query parsed by dnspython, rendered by :func:`encode`
with the transport's size rule. Wherever the fast path answers, its bytes must be those; where
dnspython cannot parse the packet, the fast path must not answer.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import struct

import dns.flags
import dns.message
import dns.name
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from boxcert import naming
from boxcert.dns.answer import EDNS_PAYLOAD, ZoneConfig, answer, encode
from boxcert.dns.fast import WAIT_FOR_TXT, FastAnswers
from boxcert.dns.hostlabel import host_address
from boxcert.dns.zonedata import Snapshot
from tests.test_dns_answer import ACME, CASES, DATA, PUBLIC, WITH_NS, L, Z

SNAPSHOT = Snapshot(
    {
        **{k: tuple(v) for k, v in DATA.values.items()},
        f"_acme-challenge.{'a' * 16}.{Z}": ("same", "other", "same"),  # a repeat: one record
        f"_acme-challenge.{'b' * 16}.{Z}": ("x" * 600, "é" * 200, ""),  # several strings each
        f"_acme-challenge.{'c' * 16}.{Z}": tuple(f"{'t' * 60}{i}" for i in range(30)),  # > 1232
    },
    fresh_until=123.0,
)
ZONES = {
    "default": ZoneConfig(Z),
    "public": PUBLIC,
    "with-ns": WITH_NS,
    "ns-outside-sharing-a-suffix": ZoneConfig(Z, ns_names=("ns.boxcert.test",)),
    "ns-elsewhere": ZoneConfig(Z, ns_names=("dns.example.net",), ttl=3600, negative_ttl=900),
    "one-label-zone": ZoneConfig("iot"),
}


def reference(wire: bytes, zone: ZoneConfig, udp: bool) -> bytes | None:
    """What the transport's reference path answers (None: dnspython cannot parse it, or it
    is a response, which is never answered)."""
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    if query.flags & dns.flags.QR:
        return None
    if not udp:
        size = 65535
    elif query.edns < 0:
        size = 512
    else:
        size = max(512, min(query.payload, EDNS_PAYLOAD))
    return encode(answer(query, zone, SNAPSHOT), size)


def check(wire: bytes, zone: ZoneConfig, udp: bool) -> bytes | None:
    """The fast path's reply to ``wire``, after checking it against the reference."""
    result = FastAnswers(zone).reply(wire, udp, lambda: SNAPSHOT)
    if result is None:
        return None
    assert result is not WAIT_FOR_TXT
    reply, keep, name_end = result
    expected = reference(wire, zone, udp)
    assert expected is not None, "answered a packet dnspython cannot parse"
    assert reply.hex() == expected.hex()
    asked = dns.message.from_wire(wire).question[0].name.to_wire()
    assert asked is not None and name_end == 12 + len(asked)  # where the cache's key folds
    # REFUSED is never kept; an answer from TXT values lives as long as they do.
    assert keep == -math.inf if reply[3] & 0x0F == 5 else keep in (math.inf, 123.0)
    return reply


def variants(name: str) -> list[str]:
    flipped = "".join(c.upper() if i % 2 else c for i, c in enumerate(name))
    return [name, name.upper(), flipped]


TABLE = [(n, t, z or ZoneConfig(Z)) for n, t, z, _rcode, _answers in CASES]
TABLE += [(f"_acme-challenge.{c * 16}.{Z}", "TXT", ZoneConfig(Z)) for c in "abc"] + [
    (f"x.ns1.{Z}", "A", ZoneConfig(Z)),  # the SOA's name server points into the question
    (f"hostmaster.{Z}", "AAAA", ZoneConfig(Z)),  # so does its mailbox
    (f"a.hostmaster.{Z}", "TXT", ZoneConfig(Z)),
    (f"x.ns.boxcert.test.{Z}", "A", ZONES["ns-outside-sharing-a-suffix"]),
    (f"192-168-1-5.{L}.{Z}", "A", ZONES["ns-elsewhere"]),
    (f"nothing.{Z}", "A", ZONES["ns-elsewhere"]),
    (f"10-1-2-3.{L}.iot", "A", ZONES["one-label-zone"]),
    ("nothing.iot", "TXT", ZONES["one-label-zone"]),
    ("iot", "A", ZONES["one-label-zone"]),
    ("example.com", "A", ZoneConfig(Z)),
    ("boxcert.test", "AAAA", ZoneConfig(Z)),
    (".", "TXT", ZoneConfig(Z)),
    (f"{'x.' * 100}{Z}", "A", ZoneConfig(Z)),  # 100 labels
]


@pytest.mark.parametrize(("name", "rdtype", "zone"), TABLE)
def test_the_answer_table_gives_the_same_bytes(name: str, rdtype: str, zone: ZoneConfig) -> None:
    # Every plain A, AAAA and TXT question is the fast path's, but the NS hosts' addresses
    # and answers that must be truncated (TC).
    ns_host = name.split(".")[0] in ("ns1", "ns2")
    for asked, edns, udp in itertools.product(variants(name), (-1, 0), (True, False)):
        wire = dns.message.make_query(asked, rdtype, use_edns=edns).to_wire()
        expected = reference(wire, zone, udp)
        assert expected is not None
        truncated = bool(expected[2] & 0x02)
        mine = rdtype in ("A", "AAAA", "TXT") and not ns_host and not truncated
        assert (check(wire, zone, udp) is not None) == mine, (asked, edns, udp)


def test_what_is_left_to_the_reference() -> None:
    fast = FastAnswers(ZoneConfig(Z))

    def reply(query: dns.message.Message, udp: bool = True) -> object:
        return fast.reply(query.to_wire(), udp, lambda: SNAPSHOT)

    host = f"192-168-1-5.{L}.{Z}"
    assert reply(dns.message.make_query(host, "A", use_edns=1)) is None  # BADVERS
    cookie = dns.edns.CookieOption(b"\x01" * 8, b"")
    assert reply(dns.message.make_query(host, "A", use_edns=0, options=[cookie])) is None
    assert reply(dns.message.make_query(host, "MX")) is None
    assert reply(dns.message.make_query(Z, "SOA")) is None
    assert reply(dns.message.make_query(host, "A", rdclass="CH")) is None
    notify = dns.message.make_query(host, "A")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert reply(notify) is None
    big = f"_acme-challenge.{'c' * 16}.{Z}"
    assert reply(dns.message.make_query(big, "TXT"), udp=True) is None  # to be truncated
    assert reply(dns.message.make_query(big, "TXT"), udp=False) is not None
    # No snapshot at hand: the question waits for one; questions that read none do not.
    assert fast.reply(dns.message.make_query(ACME, "TXT").to_wire(), True, lambda: None) is (
        WAIT_FOR_TXT
    )
    assert fast.reply(dns.message.make_query(ACME, "A").to_wire(), True, lambda: None) is not None


# --- generated queries ------------------------------------------------------------------------

ZONE_LABELS = [b"iot", b"boxcert", b"test"]
INTERESTING = [
    b"192-168-1-5", b"10-0-0-1", b"8-8-8-8", b"010-0-0-1", b"10-0-0-256", b"fd00--1",
    b"fe80--1-2", b"2001-db8--1", b"--1", L.encode(), b"qrstuvwxyz234567", b"_acme-challenge",
    b"ns1", b"ns2", b"hostmaster", b"www", b"example", b"com", b"a", b"*", b"\x00", b".",
    b"\xc9", b"1-2-3-4-5", b"\xb2-1-1-1",
]  # fmt: skip


def _case(label: bytes, flips: int) -> bytes:
    return bytes(
        b ^ 0x20 if (flips >> (i % 16)) & 1 and 0x61 <= (b | 0x20) <= 0x7A else b
        for i, b in enumerate(label)
    )


labels = st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=63))
names = st.builds(
    lambda own, tail, flips: [_case(x, flips) for x in own + tail],
    st.lists(labels, max_size=5),
    st.sampled_from([ZONE_LABELS, [b"example", b"com"], [], ZONE_LABELS[1:], [b"x", *ZONE_LABELS]]),
    st.integers(0, 0xFFFF),
)
rdtypes = st.sampled_from([1, 28, 16, 1, 28, 16, 255, 6, 2, 15, 0, 252, 65535])


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    labels_ = draw(names)
    try:
        name = dns.name.Name([*labels_, b""]).to_wire()
    except dns.name.NameTooLong:
        assume(False)
    assert name is not None
    qid = draw(st.integers(0, 0xFFFF))
    flags = draw(st.sampled_from([0x0100, 0x0000, 0x0120, 0x0110, 0x0300]) | st.integers(0, 0xFFFF))
    qclass = draw(st.sampled_from([1, 1, 1, 3, 255]))
    edns = draw(st.sampled_from(["none", "plain", "plain", "version", "option", "flags"]))
    additional = b""
    if edns != "none":
        payload = draw(st.sampled_from([512, 1232, 4096, 0, 100, 65535]) | st.integers(0, 65535))
        ttl = {"version": 0x00010000, "flags": draw(st.integers(0, 0xFFFFFFFF))}.get(edns, 0)
        options = b"\x00\x0a\x00\x08" + b"\x01" * 8 if edns == "option" else b""
        additional = b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options
    head = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1 if additional else 0)
    qtype = draw(rdtypes)
    return head + name + struct.pack("!HH", qtype, qclass) + additional


@given(wire=queries(), udp=st.booleans(), zone=st.sampled_from(list(ZONES.values())))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_queries_give_the_same_bytes(wire: bytes, udp: bool, zone: ZoneConfig) -> None:
    check(wire, zone, udp)


@given(
    wire=queries(),
    edits=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 8),
    udp=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_damaged_queries_give_the_same_bytes_or_none(
    wire: bytes, edits: list[tuple[int, int]], cut: int, udp: bool
) -> None:
    damaged = bytearray(wire)
    for at, value in edits:
        if at < len(damaged):
            damaged[at] = value
    check(bytes(damaged[: len(damaged) - cut]), ZoneConfig(Z), udp)


# --- host labels ------------------------------------------------------------------------------

host_labels = st.one_of(
    st.builds(
        "-".join,
        st.lists(st.sampled_from(["0", "00", "1", "10", "127", "192", "168", "255", "256", "999",
                                  "01", "", "fd00", "fe80", "ffff", "²", "٣"]),
                 min_size=1, max_size=9),
    ),
    st.builds(naming.ip_to_label, st.ip_addresses()),
    st.text(alphabet="0123456789abcdef-:x²", max_size=40),
)  # fmt: skip


@given(label=host_labels, allow_public=st.booleans())
@settings(max_examples=1000, deadline=None)
def test_host_labels_read_as_naming_reads_them(label: str, allow_public: bool) -> None:
    label = label.lower()
    ip = naming.label_to_ip(label)
    expected = ip if ip is not None and (allow_public or naming.is_lan_address(ip)) else None
    assert host_address(label, allow_public) == expected


@pytest.mark.parametrize(
    ("label", "ip"),
    [
        ("10-0-0-1", "10.0.0.1"),
        ("172-16-0-1", "172.16.0.1"),
        ("172-32-0-1", None),
        ("100-64-0-1", "100.64.0.1"),
        ("100-128-0-1", None),
        ("169-254-1-1", "169.254.1.1"),
        ("192-168-255-255", "192.168.255.255"),
        ("192-169-0-1", None),
        ("127-0-0-1", "127.0.0.1"),
        ("8-8-8-8", None),
        ("010-0-0-1", None),
        ("fd00--1", "fd00::1"),
        ("2001-db8--1", None),
    ],
)
def test_host_label_table(label: str, ip: str | None) -> None:
    assert host_address(label, False) == (None if ip is None else ipaddress.ip_address(ip))
