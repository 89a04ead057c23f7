"""Where the transport gets TXT values: the issuer's database behind a one-second cache.

Freshness is measured on ``time.monotonic()`` (or the clock injected in tests), and
:meth:`SqlZoneData.cached_txt_entry` hands out the deadline with the values so that the
transport's response cache can expire an answer exactly when its values would: stacking the two
caches must not stretch "a published value is served within about a second" to two seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.dns.answer import ZoneData
from boxcert.issuer import store

CACHE_SECONDS = 1.0
_CACHE_MAX = 10000

# Values and the monotonic time until which they may be served without asking again.
TxtEntry = tuple[list[str], float]


class CachedZoneData(ZoneData, Protocol):
    """ZoneData that can also answer from memory without blocking."""

    def cached_txt_entry(self, name: str) -> TxtEntry | None:
        """The values and their freshness deadline if known fresh, else None.

        None means ``txt_values`` must be called (off the event loop: it may block). Never
        blocks; the deadline is on the same clock the server was given.
        """


class SqlZoneData:
    """TXT values from the issuer's database, cached for at most ``cache_seconds``.

    Every DNS server reading one issuer database sees a value the issuer publishes within
    ``cache_seconds`` (plus the read). Thread-safe: reads run in worker threads while the
    event loop looks at the cache.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock = system_clock,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, TxtEntry] = {}
        self._lock = threading.Lock()

    def cached_txt_entry(self, name: str) -> TxtEntry | None:
        with self._lock:
            entry = self._cache.get(name)
        if entry is None or entry[1] <= self._monotonic():
            return None
        return list(entry[0]), entry[1]

    def cached_txt_values(self, name: str) -> list[str] | None:
        entry = self.cached_txt_entry(name)
        return None if entry is None else entry[0]

    def txt_values(self, name: str) -> list[str]:
        cached = self.cached_txt_entry(name)
        if cached is not None:
            return cached[0]
        # The deadline counts from before the read: a value published while the query runs
        # may be missed by it, and must still show within cache_seconds.
        deadline = self._monotonic() + self._cache_seconds
        with self._sessions() as session:
            values = store.txt_values(session, name, self._clock())
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                now = self._monotonic()
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
            self._cache[name] = (values, deadline)
        return list(values)
