"""The hot path from memory: what a repeated request needs, kept per issuer process and dropped
as soon as the database says it changed.

What is kept:

- **facts** per database uuid (:class:`~boxcert.issuer.eligibility.DatabaseFacts`, or "no such
  database" in a smaller table of its own), so the credentials and eligibility check runs
  without a query — the same check, in the same order, on the same facts;
- **holders**: per holder label, the answer last handed out (the grant and its JSON bytes), the
  certificate's dates (freshness is judged on every request with the clock), and for a box
  the database it belongs to and when it was last seen;
- **CSRs**: the SHA-256 of a CSR's exact bytes → the box label it was verified to (for this
  issuer's zone): a box's CSR is parsed and its signature checked once.

When it is true (the contract):

1. Triggers write every change that matters to the change feed (migration 0006, read through
   :mod:`.store.changes`): a database added, changed (kind, subscription, duplicate mark) or
   removed; a subscription's state or lines; a certificate revoked or removed; a box removed.
   Who made it does not matter: admin API, command line, lifecycle job, another issuer, SQL.
2. While requests come, the cache reads the feed's generation at most every
   :attr:`HotCache.refresh_every` (0.2 s) in the background and drops exactly what changed.
3. **Staleness bound**: the cache is used only while its last successful read of the feed
   *started* less than :attr:`HotCache.stale_bound` (1 s) ago; otherwise the request reads
   the database, the feed first. So no answer reflects the database as it was more than one
   second earlier, whichever process made the change.
4. A change committed through this issuer's own sessions expires the cache at once
   (:meth:`HotCache.watch`): the next request reads the feed before anything else.
5. An entry read from the database is stored only if nothing was invalidated since the read
   began (:meth:`HotCache.epoch`), so a read racing with a change cannot bring old facts back.

Several processes (``--workers``) each keep their own cache; the bound holds for each.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from boxcert.issuer.eligibility import DatabaseFacts
from boxcert.issuer.store import changes
from boxcert.wire import Grant

log = logging.getLogger(__name__)

REFRESH_EVERY = 0.2
STALE_BOUND = 1.0
# Past this without a successful read, the feed may have been pruned: drop everything.
FORGET_AFTER = changes.RETENTION_SECONDS / 4
MAX_FACTS = 200_000
MAX_UNKNOWN = 20_000  # uuids nobody registered: bounded apart, so junk cannot push out facts
MAX_HOLDERS = 200_000  # about 2.5 KB each (the chain's PEM twice: grant and bytes)
MAX_CSRS = 400_000  # 32-byte digest → 16-character label

# Tables whose changes matter to the cache, and for inserts the ones that matter then too
# (a new certificate or box replaces nothing cached; a new database ends an "unknown uuid").
WATCHED_TABLES: Final = frozenset(
    {"databases", "subscriptions", "subscription_lines", "boxes", "certificates"}
)
WATCHED_INSERTS: Final = frozenset({"databases", "subscription_lines"})
LOCK_ONLY: Final = changes.LOCK_ONLY
_CHANGED = "boxcert.cache.changed"


class Missing:
    """Nothing cached (as opposed to a cached "no such database")."""


MISSING: Final = Missing()


@dataclass(frozen=True, slots=True)
class HolderEntry:
    """What a holder's next request is answered with, while the certificate stays fresh."""

    label: str
    db_uuid: str
    for_box: bool
    box_seen: datetime | None  # a box's last_seen as stored (None for a database's key)
    certificate_id: int
    serial_hex: str
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None
    grant: Grant
    body: bytes  # the HTTP answer, encoded once
    from_cache: bool = True  # False only on the way out of the request that ordered it


class HotCache:
    """See the module docstring. Reads are lock-free; fills and invalidations take a lock."""

    def __init__(
        self,
        *,
        refresh_every: float = REFRESH_EVERY,
        stale_bound: float = STALE_BOUND,
        max_facts: int = MAX_FACTS,
        max_unknown: int = MAX_UNKNOWN,
        max_holders: int = MAX_HOLDERS,
        max_csrs: int = MAX_CSRS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_every >= stale_bound:
            raise ValueError("the cache must look at the feed more often than its bound")
        self.refresh_every = refresh_every
        self.stale_bound = stale_bound
        self._limits = (max_facts, max_unknown, max_holders, max_csrs)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._generation: int | None = None  # None: never read; the first read drops all
        self._valid_from = float("-inf")  # when the last read of the feed that counts began
        self._last_read: float | None = None  # when the last successful read began
        self._epoch = 0  # counts invalidations, for fills that raced with one
        self._facts: dict[str, DatabaseFacts] = {}
        self._unknown: dict[str, None] = {}
        self._holders: dict[str, HolderEntry] = {}
        self._csrs: dict[bytes, str] = {}

    # --- freshness --------------------------------------------------------------------------

    def usable(self) -> bool:
        """Whether the cache may answer now (its bound holds)."""
        return self._monotonic() - self._valid_from < self.stale_bound

    def refresh_due(self) -> bool:
        return self._monotonic() - self._valid_from >= self.refresh_every

    def expire(self) -> None:
        """Use nothing until the feed has been read again (after a change of our own)."""
        self._valid_from = float("-inf")

    def epoch(self) -> int:
        """Take before a read of the database; hand to the ``put_*`` that stores its result."""
        return self._epoch

    def refresh(self, session: Session) -> None:
        """Read the change feed and drop what changed (any thread; in ``session``'s
        transaction). Raises what the database raises; the cache then stays expired."""
        started = self._monotonic()
        generation = changes.generation(session)
        known = self._generation
        found: list[changes.Change] = []
        if known is not None and generation > known:
            found = changes.changes(session, known, generation)
        with self._lock:
            if self._generation is None or generation < self._generation:
                self._forget_all()  # first read, or a database other than the one we knew
            elif self._last_read is not None and started - self._last_read > FORGET_AFTER:
                self._forget_all()  # the feed may have been pruned since we last read it
            elif generation > self._generation:
                self._apply([c for c in found if c.generation > self._generation])
            self._generation = max(generation, self._generation or 0)
            self._valid_from = max(self._valid_from, started)
            self._last_read = max(self._last_read or started, started)

    def _apply(self, found: list[changes.Change]) -> None:
        self._epoch += 1
        for change in found:
            if change.holder_label is not None:
                self._holders.pop(change.holder_label, None)
            elif change.db_uuid is not None:
                self._facts.pop(change.db_uuid, None)
                self._unknown.pop(change.db_uuid, None)

    def _forget_all(self) -> None:
        self._epoch += 1
        self._facts.clear()
        self._unknown.clear()
        self._holders.clear()  # the CSR labels depend on nothing in the database

    # --- reads and fills --------------------------------------------------------------------

    def facts(self, db_uuid: str) -> DatabaseFacts | Missing | None:
        """The facts of ``db_uuid``, None for "no such database", or MISSING."""
        found = self._facts.get(db_uuid)
        if found is not None:
            return found
        return None if db_uuid in self._unknown else MISSING

    def put_facts(self, epoch: int, db_uuid: str, facts: DatabaseFacts | None) -> None:
        with self._lock:
            if epoch != self._epoch:
                return
            if facts is None:
                _bounded_put(self._unknown, db_uuid, None, self._limits[1])
            else:
                _bounded_put(self._facts, db_uuid, facts, self._limits[0])

    def holder(self, label: str) -> HolderEntry | None:
        return self._holders.get(label)

    def put_holder(self, epoch: int, entry: HolderEntry) -> None:
        with self._lock:
            if epoch == self._epoch:
                _bounded_put(self._holders, entry.label, entry, self._limits[2])

    def csr_label(self, digest: bytes) -> str | None:
        return self._csrs.get(digest)

    def put_csr_label(self, digest: bytes, label: str) -> None:
        """A CSR whose exact bytes hash to ``digest`` was verified to ``label`` (never
        invalidated: it depends on nothing but those bytes and the zone)."""
        with self._lock:
            _bounded_put(self._csrs, digest, label, self._limits[3])

    def sizes(self) -> dict[str, int]:
        return {
            "facts": len(self._facts),
            "unknown": len(self._unknown),
            "holders": len(self._holders),
            "csrs": len(self._csrs),
        }

    # --- our own changes --------------------------------------------------------------------

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Expire the cache after every commit through ``sessions`` that changed a watched
        table (contract point 4)."""
        expire = weakref.WeakMethod(self.expire)

        def flag(session: Session) -> None:
            session.info[_CHANGED] = True

        def after_flush(session: Session, _context: UOWTransaction) -> None:
            if any(_table_of(obj) in WATCHED_INSERTS for obj in session.new) or any(
                _table_of(obj) in WATCHED_TABLES
                for obj in chain(session.dirty, session.deleted)
                if session.is_modified(obj) or obj in session.deleted
            ):
                flag(session)

        def on_execute(state: ORMExecuteState) -> None:
            if state.execution_options.get(LOCK_ONLY):
                return
            table = getattr(getattr(state.statement, "table", None), "name", None)
            watched = WATCHED_INSERTS if state.is_insert else WATCHED_TABLES
            if (state.is_insert or state.is_update or state.is_delete) and table in watched:
                flag(state.session)

        def after_commit(session: Session) -> None:
            if session.info.pop(_CHANGED, False):
                method = expire()
                if method is not None:
                    method()

        def after_rollback(session: Session) -> None:
            session.info.pop(_CHANGED, None)

        event.listen(sessions, "after_flush", after_flush)
        event.listen(sessions, "do_orm_execute", on_execute)
        event.listen(sessions, "after_commit", after_commit)
        event.listen(sessions, "after_soft_rollback", lambda s, _t: after_rollback(s))


def _table_of(obj: Any) -> str | None:
    return getattr(obj, "__tablename__", None)


def _bounded_put(table: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Store, dropping the oldest entries beyond ``limit`` (insertion order)."""
    table.pop(key, None)
    table[key] = value
    while len(table) > limit:
        del table[next(iter(table))]
