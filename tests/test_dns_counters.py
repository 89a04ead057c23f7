"""The count table (dns/counters.py): every (protocol, path, type, code) has its own slot,
a file-backed table is shared between processes row by row and added up, and the metric
families show what moved."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from boxcert.dns import counters
from boxcert.dns.counters import ROW, AnsweredBy, CountTable, Drop, Transport


def test_every_answer_has_its_own_slot() -> None:
    slots = {
        counters.answer_slot(p, a, q, r)
        for p in range(len(counters.PROTOCOLS))
        for a in range(len(counters.PATHS))
        for q in range(len(counters.QTYPES))
        for r in range(len(counters.RCODES))
    }
    drops = {counters.drop_slot(drop) for drop in Drop}
    assert len(slots) == counters.ANSWER_SLOTS and not slots & drops
    assert slots | drops == set(range(ROW))


def test_types_and_codes() -> None:
    assert [counters.qtype_of_rdtype(t) for t in (1, 28, 16, 6, 255)] == [0, 1, 2, 3, 3]
    assert counters.qtype_of_wire(b"\x00\x1c") == 1 and counters.qtype_of_wire(b"") == 3
    assert counters.rcode_of(16) == counters.RCODES.index("BADVERS")
    assert counters.RCODE_OF_HEADER[9] == counters.RCODE_OTHER


def _count_in_row(path: Path, index: int, times: int) -> None:
    table = CountTable.attach(path)
    row = table.row(index)
    slot = counters.answer_slot(Transport.UDP, AnsweredBy.CACHE, 0, 0)
    for _ in range(times):
        row[slot] += 1


def test_rows_of_several_processes_add_up(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    table = CountTable.create(path, 2)
    assert path.stat().st_mode & 0o777 == 0o600
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_count_in_row, args=(path, i, 1000 * (i + 1))) for i in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    totals = table.totals()
    assert totals[counters.answer_slot(Transport.UDP, AnsweredBy.CACHE, 0, 0)] == 3000
    assert sum(totals) == 3000
    with pytest.raises(IndexError):
        table.row(2)


class _Families(Collector):
    def __init__(self, totals: list[int]) -> None:
        self.totals = totals

    def collect(self) -> list[Metric]:
        return list(counters.families(self.totals))


def test_families_show_what_moved() -> None:
    row = CountTable.anonymous().row(0)
    row[counters.answer_slot(Transport.TCP, AnsweredBy.FULL, 3, 1)] += 2
    row[counters.drop_slot(Drop.OVERFLOW)] += 1
    registry = CollectorRegistry()
    registry.register(_Families(list(row.tolist())))
    text = generate_latest(registry).decode()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        'boxcert_dns_queries_total{path="full",protocol="tcp",qtype="other",rcode="FORMERR"} 2.0',
        'boxcert_dns_dropped_total{reason="garbage"} 0.0',
        'boxcert_dns_dropped_total{reason="overflow"} 1.0',
        'boxcert_dns_dropped_total{reason="send_buffer"} 0.0',
    ]
