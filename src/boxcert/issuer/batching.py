"""Calls that wait for the database thread are run together (group commit, group read).

A request hands its item to a :class:`Batched` and awaits its own outcome. The first item
handed over while none is queued queues one call on the database thread
(:func:`.db.database_thread`); when that call runs, it takes every item handed over by then
and passes them to the batch function at once. Under load the thread is busy, so the items
of a hundred requests in flight go to the database in one round of statements instead of a
round each; when idle, a batch is the one item and costs what a single call costs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from boxcert.issuer.db import database_thread

T = TypeVar("T")
R = TypeVar("R")

# The batch function: one outcome per item, in order; an exception for one item fails that
# item only. It may also raise, which fails every item of the batch alike.
BatchFunction = Callable[[Sequence[T]], Sequence[R | BaseException]]


class Batched(Generic[T, R]):
    def __init__(self, run: BatchFunction[T, R]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._queued = False  # a call to run the pending items waits on the thread

    async def __call__(self, item: T) -> R:
        """Run ``item`` with whatever else is handed over meanwhile; its outcome."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._pending.append((item, done))
            queue = not self._queued
            self._queued = True
        if queue:
            try:
                database_thread().submit(self._run_pending)
            except RuntimeError as err:  # the thread is shut down (the process is stopping)
                self._fail_pending(err)
        return await done

    def _run_pending(self) -> None:
        with self._lock:
            batch, self._pending, self._queued = self._pending, [], False
        try:
            outcomes = list(self._run([item for item, _ in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as err:  # the database is down, or a bug: nobody waits forever
            outcomes = [err] * len(batch)
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            # Each item on its own caller's loop (a process may run more than one).
            done.get_loop().call_soon_threadsafe(_settle, done, outcome)

    def _fail_pending(self, err: BaseException) -> None:
        with self._lock:
            batch, self._pending, self._queued = self._pending, [], False
        for _, done in batch:
            done.get_loop().call_soon_threadsafe(_settle, done, err)


def _settle(done: asyncio.Future[R], outcome: R | BaseException) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
