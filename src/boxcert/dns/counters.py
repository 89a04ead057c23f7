"""What the DNS server counts, as plain integers in a table the hot path adds to directly.

Every query ends in exactly one place: an answer (counted by protocol, the path that made it,
the query's type and the answer's response code) or a drop (counted by reason):

- ``path``: ``cache`` (the response cache), ``fast`` (:mod:`.fast`), ``full`` (dnspython and
  :func:`~.answer.answer`, the reference), ``screen`` (a reply made from the header alone by
  :mod:`.screen`: FORMERR or NOTIMP for what is not one plain question);
- ``qtype``: ``A``, ``AAAA``, ``TXT`` or ``other`` (``other`` too when the question cannot be
  read); ``rcode``: ``NOERROR``, ``FORMERR``, ``SERVFAIL``, ``NXDOMAIN``, ``NOTIMP``,
  ``REFUSED``, ``BADVERS``, ``other``;
- drops: ``garbage`` (a datagram the screen drops unanswered: too short, a response, …),
  ``overflow`` (more UDP questions waiting for the database than the server keeps), and
  ``send_buffer`` (a UDP reply the kernel could not take).

Why a table and not prometheus-client's counters in the query path: a cache hit costs a few
microseconds, and a labelled counter's ``inc()`` (a lock, a dict lookup, a float add, with
``--workers`` a write to a file) would add a noticeable part of that. Here a slot index is
worked out once — for a cached answer when it is stored, so a hit adds one to a slot it already
knows — and a count is one ``row[slot] += 1`` into 64-bit integers in memory (about 60 ns).
:func:`families` turns the totals into metric families when ``/metrics`` is asked.

With ``--workers N`` the table is a file in a private directory the parent makes, mapped by
every worker (``mmap``), one row per worker: each worker writes only its own row, the worker
serving ``/metrics`` reads every row and adds them up, so one scrape sees the whole group at
that moment, with no transfer and no delay. One process alone uses an anonymous mapping.
"""

from __future__ import annotations

import enum
import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric

PROTOCOLS = ("udp", "tcp")
PATHS = ("cache", "fast", "full", "screen")
QTYPES = ("A", "AAAA", "TXT", "other")
RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other")
DROPS = ("garbage", "overflow", "send_buffer")

ANSWER_SLOTS = len(PROTOCOLS) * len(PATHS) * len(QTYPES) * len(RCODES)
ROW = ANSWER_SLOTS + len(DROPS)
_SLOT_BYTES = 8  # unsigned 64-bit


class Transport(enum.IntEnum):
    UDP = 0
    TCP = 1


class AnsweredBy(enum.IntEnum):
    CACHE = 0
    FAST = 1
    FULL = 2
    SCREEN = 3


class Drop(enum.IntEnum):
    GARBAGE = 0
    OVERFLOW = 1
    SEND_BUFFER = 2


QTYPE_OTHER = 3
_QTYPE_OF_RDTYPE = {1: 0, 28: 1, 16: 2}
_QTYPE_OF_WIRE = {b"\x00\x01": 0, b"\x00\x1c": 1, b"\x00\x10": 2}
_RCODE_OF = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 16: 6}
RCODE_OTHER = 7
RCODE_OF_HEADER = tuple(_RCODE_OF.get(n, RCODE_OTHER) for n in range(16))  # by the low 4 bits
FORMERR, SERVFAIL = 1, 2
# For the fast path and the cache: the offset within a (protocol, path) block, by the question's
# type bytes, before adding the header's rcode index (a dict lookup, no function call).
QTYPE_OFFSET = {wire: index * len(RCODES) for wire, index in _QTYPE_OF_WIRE.items()}
QTYPE_OTHER_OFFSET = QTYPE_OTHER * len(RCODES)


class CountRow(Protocol):
    """One process's counters: a ``memoryview`` of 64-bit integers (or a list, in tests)."""

    def __getitem__(self, index: int, /) -> int: ...

    def __setitem__(self, index: int, value: int, /) -> None: ...


def qtype_of_rdtype(rdtype: int) -> int:
    return _QTYPE_OF_RDTYPE.get(rdtype, QTYPE_OTHER)


def qtype_of_wire(type_bytes: bytes) -> int:
    """The qtype index of a question's 2-byte type as it is on the wire."""
    return _QTYPE_OF_WIRE.get(type_bytes, QTYPE_OTHER)


def rcode_of(rcode: int) -> int:
    """The rcode index of a full (extended) response code."""
    return _RCODE_OF.get(rcode, RCODE_OTHER)


def base(protocol: int, path: int) -> int:
    """The first slot of (protocol, path); add ``qtype * len(RCODES) + rcode``."""
    return (protocol * len(PATHS) + path) * len(QTYPES) * len(RCODES)


def answer_slot(protocol: int, path: int, qtype: int, rcode: int) -> int:
    return base(protocol, path) + qtype * len(RCODES) + rcode


def drop_slot(drop: Drop) -> int:
    return ANSWER_SLOTS + drop


class CountTable:
    """``rows`` rows of :data:`ROW` counters in one mapping; see the module docstring.

    :meth:`anonymous` for one process; :meth:`create` (the parent) and :meth:`attach` (each
    worker) for a file shared by a group."""

    def __init__(self, mapping: mmap.mmap, rows: int) -> None:
        self._map = mapping
        self.rows = rows
        self._all = memoryview(mapping).cast("Q")

    @classmethod
    def anonymous(cls, rows: int = 1) -> CountTable:
        return cls(mmap.mmap(-1, rows * ROW * _SLOT_BYTES), rows)

    @classmethod
    def create(cls, path: Path, rows: int) -> CountTable:
        """A zeroed table file (0600) at ``path``, mapped."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, rows * ROW * _SLOT_BYTES)
            return cls(mmap.mmap(fd, rows * ROW * _SLOT_BYTES), rows)
        finally:
            os.close(fd)

    @classmethod
    def attach(cls, path: Path) -> CountTable:
        """The table another process created at ``path``."""
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            return cls(mmap.mmap(fd, size), size // (ROW * _SLOT_BYTES))
        finally:
            os.close(fd)

    def row(self, index: int) -> memoryview:
        """The counters worker ``index`` adds to (only it writes them)."""
        if not 0 <= index < self.rows:
            raise IndexError(f"no row {index} in a table of {self.rows}")
        return self._all[index * ROW : (index + 1) * ROW]

    def totals(self) -> list[int]:
        """Every slot added up over the rows."""
        every = self._all.tolist()
        return [sum(every[slot::ROW]) for slot in range(ROW)]


def families(totals: list[int]) -> Iterable[Metric]:
    """The metric families of a table's totals (series that never moved are left out)."""
    queries = CounterMetricFamily(
        "boxcert_dns_queries",
        "Queries answered, by protocol, path, query type and response code.",
        labels=["protocol", "path", "qtype", "rcode"],
    )
    for p, protocol in enumerate(PROTOCOLS):
        for a, path in enumerate(PATHS):
            for q, qtype in enumerate(QTYPES):
                for r, rcode in enumerate(RCODES):
                    count = totals[answer_slot(p, a, q, r)]
                    if count:
                        queries.add_metric([protocol, path, qtype, rcode], count)
    yield queries
    dropped = CounterMetricFamily(
        "boxcert_dns_dropped", "Queries dropped without an answer, by reason.", labels=["reason"]
    )
    for drop in Drop:
        dropped.add_metric([DROPS[drop]], totals[drop_slot(drop)])
    yield dropped
