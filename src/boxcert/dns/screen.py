"""What a packet must look like before anything parses it: one question, no records, a small OPT.

The screen reads the 12-byte header and walks at most the question name and
:data:`MAX_ADDITIONAL` small records; it never builds a message. A packet it turns down is
answered from its header alone (or dropped), so no packet, however it is built, costs more than
that walk: before the screen, dnspython parsed the whole message first, and one datagram of
8,000 compressed questions or 16,000 empty EDNS options cost 86–320 ms of CPU.

=================================================  ===========================================
packet                                             verdict
=================================================  ===========================================
shorter than a header, or a response (QR set)      dropped (never answer a response: no loops)
opcode other than QUERY                            NOTIMP, from the header
QDCOUNT ≠ 1, ANCOUNT ≠ 0 or NSCOUNT ≠ 0            FORMERR, from the header
more than :data:`MAX_ADDITIONAL` additional RRs    FORMERR
a compression pointer in the question              FORMERR (nothing comes before it to point at)
a second OPT, an OPT larger than                   FORMERR (RFC 6891 6.1.1)
:data:`MAX_OPT_DATA`, more than
:data:`MAX_EDNS_OPTIONS` options, or options
that do not fill it exactly
a record running past the end, or bytes after      FORMERR (what a full parse would say)
the last record
anything else                                      ANSWER: on to the fast path or dnspython
=================================================  ===========================================

A passed packet holds one question and at most two small records, so a full parse of it is
bounded too. What is inside the labels and the rdata is not judged here: dnspython does that.
"""

from __future__ import annotations

import enum

HEADER_SIZE = 12
MAX_ADDITIONAL = 2  # an OPT, and a TSIG or SIG(0) after it
MAX_OPT_DATA = 512  # a cookie is 12-44 bytes, query padding to 128-byte blocks under 128
MAX_EDNS_OPTIONS = 8
MAX_NAME = 255
_OPT = 41
_QR = 0x80
_OPCODE = 0x78


class Verdict(enum.Enum):
    """What the transport does with a packet."""

    ANSWER = "answer"
    DROP = "drop"
    FORMERR = "formerr"
    NOTIMP = "notimp"


def screen(wire: bytes) -> Verdict:
    """The verdict on one received packet; see the module docstring."""
    if len(wire) < HEADER_SIZE or wire[2] & _QR:
        return Verdict.DROP
    if wire[2] & _OPCODE:
        return Verdict.NOTIMP
    if wire[4:10] != b"\x00\x01\x00\x00\x00\x00":  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
        return Verdict.FORMERR
    additional = int.from_bytes(wire[10:12], "big")
    if additional > MAX_ADDITIONAL:
        return Verdict.FORMERR
    pos = question_end(wire)
    if pos is None:
        return Verdict.FORMERR
    pos += 4  # QTYPE, QCLASS
    seen_opt = False
    for _ in range(additional):
        pos = _skip_name(wire, pos)
        if pos is None or pos + 10 > len(wire):
            return Verdict.FORMERR
        rdtype = int.from_bytes(wire[pos : pos + 2], "big")
        rdlen = int.from_bytes(wire[pos + 8 : pos + 10], "big")
        pos += 10
        if rdtype == _OPT:
            if seen_opt or rdlen > MAX_OPT_DATA or not _options_fit(wire, pos, rdlen):
                return Verdict.FORMERR
            seen_opt = True
        pos += rdlen
    return Verdict.ANSWER if pos == len(wire) else Verdict.FORMERR


def question_end(wire: bytes) -> int | None:
    """The offset just past the question's name (it starts at 12); None when the name is
    compressed, malformed or cut short."""
    pos, end = HEADER_SIZE, min(len(wire), HEADER_SIZE + MAX_NAME)
    while pos < end:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length > 63:
            return None
        pos += length + 1
    return None


def _skip_name(wire: bytes, pos: int) -> int | None:
    """Past a record's owner name, which may end in a compression pointer."""
    end = min(len(wire), pos + MAX_NAME)
    while pos < end:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            return pos + 2
        if length > 63:
            return None
        pos += length + 1
    return None


def _options_fit(wire: bytes, pos: int, rdlen: int) -> bool:
    """At most MAX_EDNS_OPTIONS options, which fill the OPT's data exactly."""
    end, count = pos + rdlen, 0
    while pos < end:
        count += 1
        if count > MAX_EDNS_OPTIONS:
            return False
        pos += 4 + int.from_bytes(wire[pos + 2 : pos + 4], "big")
    return pos == end
