"""Encoded responses by the bytes of the query, so repeated queries are not answered again.

Real traffic repeats itself: resolvers and boxes ask the same few names over and over. The key
is the query's wire form after the 2-byte ID with the question name in lowercase: the flags
(opcode, RD, CD), the counts, the question and the EDNS OPT record (version, payload size, DO).
Every byte the answer depends on is in the key, and names match without regard to ASCII case
(RFC 4343), so resolvers that randomize the case of their questions (0x20) hit the entry too.

The stored response is kept without its ID and with its question name in lowercase. A response
names the question only once in letters, in the question section (every other name that equals
the question or ends like it is a compression pointer into it, as dnspython and the fast path
compress), so a hit is the query's ID, the stored header, the query's own question name (its
case echoed, as resolvers using 0x20 check) and the rest of the stored response. A query whose
name is already in lowercase (most) is found with one lookup of its bytes as they came.
The transport keeps one cache per protocol because UDP answers are truncated to the client's
size and TCP answers are not.

Entries live at most ``seconds`` (one, like a TXT snapshot), and never past the freshness of the
TXT values they were built from, so a value the issuer publishes shows within about a second.
The size is bounded, least recently used first out, so a flood of distinct names costs memory
once and then only evicts.

Each entry keeps the slot of :mod:`.counters` its answers are counted in (the protocol, the
query's type and the answer's code never change for the same key), so a hit is counted with
one addition and nothing is read from the bytes for it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import dns.message
import dns.rcode

from boxcert.dns import counters
from boxcert.dns.counters import AnsweredBy, CountRow, Transport
from boxcert.dns.screen import HEADER_SIZE, question_end

RESPONSE_CACHE_SECONDS = 1.0
RESPONSE_CACHE_SIZE = 10000
_OTHER = counters.QTYPE_OTHER_OFFSET


def cacheable(query: dns.message.Message, response: dns.message.Message) -> bool:
    """Whether ``response`` may be served again for the same query bytes.

    Only ordinary answers (NOERROR, with NODATA and truncated ones, and NXDOMAIN) are kept;
    errors are rare, cheap to make again, and some (SERVFAIL) are transient. Queries with EDNS
    options (DNS cookies above all: a server cookie depends on the client's address and a
    secret) or with anything besides OPT in the additional section (TSIG, SIG(0): signed
    answers depend on keys and time) are left out, so a future answer that depends on more
    than the bytes never gets cached by mistake.
    """
    return (
        response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
        and not query.options
        and not query.additional
        and not query.had_tsig
    )


class ResponseCache:
    """Response bytes without their ID, by query bytes without their ID. Not thread-safe:
    the transport uses it from its event loop only. Hits are counted in ``counts`` (a
    :mod:`.counters` row) as answers from the cache over ``transport``."""

    def __init__(
        self,
        size: int = RESPONSE_CACHE_SIZE,
        seconds: float = RESPONSE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        counts: CountRow | None = None,
        transport: Transport = Transport.UDP,
    ) -> None:
        self._size = size
        self._seconds = seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[bytes, tuple[bytes, float, int]] = OrderedDict()
        self._counts: CountRow = counts if counts is not None else [0] * counters.ROW
        self._base = counters.base(transport, AnsweredBy.CACHE)
        self._unknown = counters.answer_slot(
            transport, AnsweredBy.CACHE, counters.QTYPE_OTHER, counters.RCODE_OTHER
        )
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> bytes | None:
        """The stored response body for ``key`` if still fresh."""
        entry = self._entries.get(key)
        if entry is not None:
            if entry[1] > self._monotonic():
                self._entries.move_to_end(key)
                self.hits += 1
                self._counts[entry[2]] += 1
                return entry[0]
            del self._entries[key]
        self.misses += 1
        return None

    def put(
        self, key: bytes, body: bytes, fresh_until: float = float("inf"), slot: int | None = None
    ) -> None:
        """Keep ``body`` for ``key`` until ``seconds`` from now or ``fresh_until``, earlier;
        its hits are counted in ``slot`` (:meth:`store` works it out)."""
        if self._size <= 0 or self._seconds <= 0:
            return
        now = self._monotonic()
        expires = min(now + self._seconds, fresh_until)
        if expires <= now:
            return  # built from values already stale (or with no known freshness)
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
        entries[key] = (body, expires, self._unknown if slot is None else slot)
        if len(entries) > self._size:
            entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def lookup(self, wire: bytes) -> bytes | None:
        """The stored response to the query ``wire`` under its ID and in its letter case."""
        body = self.get(wire[2:])  # a name in lowercase already: its own key
        if body is not None:
            return wire[:2] + body
        if wire[HEADER_SIZE:].islower():
            return None  # no capital letter at all, so the name was in lowercase
        end = question_end(wire)
        if end is None:
            return None
        name = wire[HEADER_SIZE:end]
        folded = name.lower()
        if folded == name:
            return None
        self.misses -= 1  # the first look counted a miss; this one decides
        body = self.get(wire[2:HEADER_SIZE] + folded + wire[end:])
        if body is None:
            return None
        return wire[:2] + body[: HEADER_SIZE - 2] + name + body[end - 2 :]

    def store(
        self,
        wire: bytes,
        reply: bytes,
        fresh_until: float = float("inf"),
        name_end: int | None = None,
        offset: int | None = None,
    ) -> None:
        """Keep ``reply``, the response to the query ``wire``, for queries like it.

        ``name_end``: where the question name ends, when the caller built ``reply`` with that
        question echoed (the fast path); else it is found and the echo checked here.
        ``offset``: the answer's counter offset (:data:`.counters.QTYPE_OFFSET` plus the rcode
        index), when the caller worked it out already.
        """
        if name_end is None:
            name_end = question_end(wire)
            if name_end is None or reply[HEADER_SIZE:name_end] != wire[HEADER_SIZE:name_end]:
                return  # no question echoed (a bare error): nothing to key it on
        name = wire[HEADER_SIZE:name_end]
        if offset is None:
            qtype = counters.QTYPE_OFFSET.get(wire[name_end : name_end + 2], _OTHER)
            offset = qtype + counters.RCODE_OF_HEADER[reply[3] & 0x0F]
        slot = self._base + offset
        folded = name.lower()
        if folded == name:
            self.put(wire[2:], reply[2:], fresh_until, slot)
        else:
            self.put(
                wire[2:HEADER_SIZE] + folded + wire[name_end:],
                reply[2:HEADER_SIZE] + folded + reply[name_end:],
                fresh_until,
                slot,
            )
