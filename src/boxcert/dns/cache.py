"""Encoded responses by the exact bytes of the query, so repeated queries skip dnspython.

Parsing and rendering with dnspython is most of a query's cost, while real traffic repeats itself
(resolvers and boxes ask the same few names over and over). The key is the query's wire form
after the 2-byte ID: the flags (opcode, RD, CD), the counts, the question with its exact case and
the EDNS OPT record (version, payload size, DO). Every byte the answer depends on is in the key,
so the stored response minus its ID is the answer for any query with the same key; a hit
prepends the new query's ID and is done. The transport keeps one cache per protocol because UDP
answers are truncated to the client's size and TCP answers are not.

Entries live at most ``seconds`` (one, like a TXT snapshot), and never past the freshness of the
TXT values they were built from, so a value the issuer publishes shows within about a second.
The size is bounded, least recently used first out, so a flood of distinct names costs memory
once and then only evicts.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import dns.message
import dns.rcode

RESPONSE_CACHE_SECONDS = 1.0
RESPONSE_CACHE_SIZE = 10000


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
    the transport uses it from its event loop only."""

    def __init__(
        self,
        size: int = RESPONSE_CACHE_SIZE,
        seconds: float = RESPONSE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._size = size
        self._seconds = seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
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
                return entry[0]
            del self._entries[key]
        self.misses += 1
        return None

    def put(self, key: bytes, body: bytes, fresh_until: float = float("inf")) -> None:
        """Keep ``body`` for ``key`` until ``seconds`` from now or ``fresh_until``, earlier."""
        if self._size <= 0 or self._seconds <= 0:
            return
        now = self._monotonic()
        expires = min(now + self._seconds, fresh_until)
        if expires <= now:
            return  # built from values already stale (or with no known freshness)
        self._entries[key] = (body, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
