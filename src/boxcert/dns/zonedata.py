"""Where the transport gets TXT values: a snapshot of every live TXT record, reloaded at most once
a second.

The ``txt_records`` table holds only the values of ACME DNS-01 challenges in flight, so one query
reads all of it, and the server answers every TXT question from that snapshot in memory: however
many names are asked, and whatever they are (a flood of random ``_acme-challenge.<label>`` names
included), the database sees at most one read per ``refresh_seconds``.

A snapshot is fresh for ``refresh_seconds`` from the start of its read. A challenge question that
finds it stale waits for the next read (one at a time, shared by every waiting question), so a
value the issuer publishes is served within a second plus a read. ``Snapshot.fresh_until`` goes
to the transport's response cache with every answer built from it, so stacking the two caches
does not stretch that second.

When a read fails (database down, or no ``txt_records`` table yet because no issuer has created
the schema), the failure is logged at most once a minute, the next read waits
``refresh_seconds``, and questions are answered from the last snapshot (answers then not kept);
before the first successful read there is nothing to answer from: :class:`NoTxtData`, which the
transport turns into SERVFAIL. A question never waits more than ``max_wait`` for a read.

Freshness is measured on ``time.monotonic()`` (or the clock injected in tests), the one the
response cache uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.storage.txt import live_txt_records

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
MAX_WAIT = 1.0  # the longest a question waits for a read before the last snapshot answers it
_LOG_EVERY = 60.0


class TxtSource(Protocol):
    """Where snapshots come from."""

    def load(self) -> Mapping[str, Sequence[str]]:
        """Every live TXT record: name (lowercase, no trailing dot) → values, oldest first.

        Blocks (it runs in a worker thread) and may raise.
        """
        ...


class SqlZoneData:
    """The issuer's ``txt_records`` table: one ``SELECT`` of the unexpired rows per load.

    Reads only; the DNS server needs no other right on the database.
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def load(self) -> dict[str, list[str]]:
        with self._sessions() as session:
            return live_txt_records(session, self._clock())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every live TXT value at one moment; a ``ZoneData`` for :func:`boxcert.dns.answer.answer`."""

    records: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fresh_until: float = math.inf  # monotonic; answers built from it may be kept until then

    def txt_values(self, name: str) -> list[str]:
        return list(self.records.get(name, ()))


class NoTxtData(Exception):
    """No snapshot was ever loaded and the database cannot be read now."""


class TxtSnapshots:
    """The current snapshot and the one read that may be running. Event loop only."""

    def __init__(
        self,
        source: TxtSource,
        refresh_seconds: float = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._max_wait = max_wait
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dns-db")
        self._snapshot: Snapshot | None = None
        self._loaded_at = -math.inf  # monotonic start of the current snapshot's read
        self._retry_at = -math.inf  # after a failed read, no other read before this
        self._loading: asyncio.Task[None] | None = None
        self._loading_since = 0.0  # event loop time
        self._failing = False
        self._last_log = -math.inf

    def current(self) -> Snapshot | None:
        """The snapshot to answer from without waiting; None: await :meth:`fresh` instead.

        Never blocks. Raises :class:`NoTxtData` while reads fail and none ever succeeded.
        """
        snapshot, now = self._snapshot, self._monotonic()
        if snapshot is not None and snapshot.fresh_until > now:
            return snapshot
        if now < self._retry_at:
            return self._last()
        return None

    async def fresh(self) -> Snapshot:
        """A fresh snapshot after the read this starts or joins; the last one if it fails or
        takes longer than ``max_wait``."""
        snapshot = self.current()
        if snapshot is not None:
            return snapshot
        loading = self.reload()
        loop = asyncio.get_running_loop()
        timeout = max(0.0, self._loading_since + self._max_wait - loop.time())
        # Shielded: a waiter cancelled (client gone, timeout) must not cancel the shared read.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(loading), timeout)
        return self._last()

    def reload(self) -> asyncio.Task[None]:
        """Start a read unless one is running; the running one."""
        if self._loading is None:
            loop = asyncio.get_running_loop()
            self._loading_since = loop.time()
            self._loading = loop.create_task(self._load())
        return self._loading

    async def close(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _last(self) -> Snapshot:
        if self._snapshot is None:
            raise NoTxtData("no TXT records read from the database yet")
        return self._snapshot

    async def _load(self) -> None:
        started = self._monotonic()
        try:
            loop = asyncio.get_running_loop()
            records = await loop.run_in_executor(self._executor, self._source.load)
            frozen = {name.lower().rstrip("."): tuple(v) for name, v in records.items()}
        except Exception as err:
            self._retry_at = self._monotonic() + self._refresh_seconds
            self._log_failure(err)
        else:
            self._snapshot = Snapshot(frozen, started + self._refresh_seconds)
            self._loaded_at = started
            self._retry_at = -math.inf
            if self._failing:
                self._failing = False
                log.warning("TXT records read again from the issuer's database")
        finally:
            self._loading = None

    def _log_failure(self, err: Exception) -> None:
        """One line at most once a minute, so a database down for long stays quiet; every
        failure with its traceback at debug level."""
        self._failing = True
        now = self._monotonic()
        if self._snapshot is None:
            what = "answering SERVFAIL for challenge names until it can"
        else:
            what = f"serving the TXT values read {now - self._loaded_at:.0f} s ago"
        log.debug("cannot read txt_records", exc_info=True)
        if now - self._last_log >= _LOG_EVERY:
            self._last_log = now
            log.warning(
                "cannot read txt_records from the issuer's database (%s: is it down, or has"
                " no issuer created the schema yet?); %s; retrying every %g s",
                str(err).splitlines()[0] if str(err) else type(err).__name__,
                what,
                self._refresh_seconds,
            )
