"""Requests handed over together are looked up together (issuer/lookup.py on
issuer/batching.py): one round of reads for all of them, each judged on its own, in the
contract's order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from boxcert import naming, pki
from boxcert.issuer import batching
from boxcert.issuer.batching import Batched
from boxcert.issuer.db import database_thread
from boxcert.issuer.errors import BadRequest, Refusal
from boxcert.issuer.inline import SignedOrder
from boxcert.issuer.obtain import Holder
from boxcert.wire import CertificateRequest, Grant, RefusalCode
from tests.issuer_support import Issuer, box_request, make_issuer

T = TypeVar("T")


async def _together(calls: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    """Start every call while the database thread is busy (as under load), then let it go."""
    release = threading.Event()
    busy = database_thread().submit(release.wait)
    try:
        tasks = [asyncio.ensure_future(call) for call in calls]
        await asyncio.sleep(0.05)  # every call has handed its item over and waits
    finally:
        release.set()
    busy.result()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_requests_handed_over_together_share_one_round_of_reads(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    issuer = make_issuer(tmp_path, url=url)
    issuer.register("db-a", "CODE-A")
    issuer.register("db-b", "CODE-B")
    await issuer.service.handle(box_request("db-a", "CODE-A"))  # facts cached from now on
    await issuer.service.handle(box_request("db-b", "CODE-B"))
    twice = pki.make_ec_key()
    requests = [
        box_request("db-a", "CODE-A", twice),
        box_request("db-a", "CODE-A"),
        # Refused at step 1: its CSR (garbage, which would be a bad request) is never read.
        CertificateRequest("db-b", "WRONG", "box", "-----BEGIN CERTIFICATE REQUEST-----\nx"),
        CertificateRequest("db-a", "CODE-A", "box", "-----BEGIN CERTIFICATE REQUEST-----\nx"),
        CertificateRequest("db-b", "CODE-B", "db-b", None),  # the database's own certificate
        box_request("db-a", "CODE-A", twice),  # the same box again
    ]
    lookups, stores = _batch_sizes(issuer.service.lookup._together), _store_batch_sizes(issuer)
    seen = issuer.statements()
    outcomes = await _together([issuer.service.handle(r) for r in requests])
    issuer.service.close()

    first, second, wrong, bad, own, again = outcomes
    assert isinstance(first, Grant) and isinstance(second, Grant) and isinstance(own, Grant)
    assert isinstance(again, Grant) and again.x509_pem == first.x509_pem  # one order
    assert first.x509_pem != second.x509_pem
    assert own.private_key_pem is not None  # the no-CSR exchange: key made by the issuer
    assert isinstance(wrong, Refusal) and wrong.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    assert isinstance(bad, BadRequest)
    reads = [sql for sql in seen if "audit_log" not in sql and "cache_" not in sql]
    box_reads = [sql for sql in reads if "FROM boxes" in sql and "boxes.label IN" in sql]
    # One lookup for the five memory could not answer (it refuses the wrong code from the
    # cached facts), with one read of their boxes. The orders it signed are stored
    # as they are handed over: together under load, else in more than one batch (each one
    # read of the boxes too), which depends on when the threads run.
    assert lookups == [5]
    # Four signed orders (the same box's two among them: one certificate, see above).
    assert sum(stores) == 4 and len(box_reads) == 1 + len(stores), reads
    assert not [sql for sql in reads if "FROM databases" in sql and "FOR UPDATE" not in sql]


def _batch_sizes(batched: Batched[Any, Any]) -> list[int]:
    """The size of every batch ``batched`` runs from now on."""
    sizes: list[int] = []
    run = batched._run

    def counted(items: Sequence[Any]) -> Sequence[Any]:
        sizes.append(len(items))
        return run(items)

    batched._run = counted
    return sizes


def _store_batch_sizes(issuer: Issuer) -> list[int]:
    inline = issuer.service.inline
    assert inline is not None
    return _batch_sizes(inline._stored_together)


async def test_a_surprise_in_one_request_fails_that_request_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register("db-a", "CODE-A")
    inline = issuer.service.inline
    assert inline is not None
    unlucky = pki.make_ec_key()
    label = naming.box_label(pki.spki_der(unlucky.public_key()))
    sign = inline.sign

    def sign_or_fail(holder: Holder, *args: Any) -> SignedOrder:
        if holder.label == label:
            raise ValueError("a bug met by this request alone")
        return sign(holder, *args)

    monkeypatch.setattr(inline, "sign", sign_or_fail)
    requests = [box_request("db-a", "CODE-A", k) for k in (pki.make_ec_key(), unlucky)]
    lucky, failed = await _together([issuer.service.handle(r) for r in requests])
    issuer.service.close()
    assert isinstance(lucky, Grant)
    assert isinstance(failed, ValueError)


async def test_a_batch_that_cannot_reach_the_thread_fails_and_the_next_one_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batched: Batched[int, int] = Batched(lambda items: [item + 1 for item in items])
    stopped = ThreadPoolExecutor(1)
    stopped.shutdown()
    monkeypatch.setattr(batching, "database_thread", lambda: stopped)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(batched(1), 5)  # told at once, not left waiting
    monkeypatch.undo()
    assert await asyncio.wait_for(batched(2), 5) == 3


async def test_a_failing_batch_fails_each_of_its_items_and_keeps_none_waiting() -> None:
    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if 3 in items:
            raise RuntimeError("database down")
        return [ValueError("odd") if item % 2 else item * 10 for item in items]

    batched: Batched[int, int] = Batched(run)
    assert await _together([batched(0), batched(1), batched(2)]) == [0, _Same(ValueError), 20]
    down = await _together([batched(3), batched(4)])
    assert all(isinstance(o, RuntimeError) for o in down)
    assert calls == [[0, 1, 2], [3, 4]]  # each group in one call
    assert await batched(6) == 60  # and the next call runs on


async def test_a_batch_that_answers_the_wrong_number_of_outcomes_fails_all() -> None:
    batched: Batched[int, int] = Batched(lambda items: [1])
    outcomes = await _together([batched(1), batched(2)])
    assert all(isinstance(o, RuntimeError) for o in outcomes)


class _Same:
    """Equal to any exception of the given type (for comparing outcome lists)."""

    def __init__(self, kind: type[BaseException]) -> None:
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.kind)

    __hash__ = None  # type: ignore[assignment]
