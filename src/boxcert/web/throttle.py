"""A throttle on failed logins: per client address and overall, on an injected clock.

Only failures count. After ``per_client.limit`` failures from one address within
``per_client.window`` that address is refused until its oldest failure leaves the window;
after ``overall.limit`` failures from all addresses together (guessing spread over many
addresses) every login is refused the same way. A success clears its address's failures. The
refusal comes *before* the password is checked, so a locked-out guesser learns nothing, and
the costly hash is not computed for it.

Memory is bounded: at most ``max_clients`` addresses are tracked (the least recently failing
are dropped first) and each keeps at most ``limit`` timestamps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from boxcert.clock import Clock, system_clock


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    window: timedelta


class LoginThrottle:
    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        per_client: Window = Window(5, timedelta(minutes=15)),
        overall: Window = Window(50, timedelta(minutes=15)),
        max_clients: int = 10_000,
    ) -> None:
        self.clock = clock
        self.per_client = per_client
        self.overall = overall
        self.max_clients = max_clients
        self._clients: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._all: deque[datetime] = deque()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> timedelta | None:
        """How long ``client`` must wait before trying again; None when it may try now."""
        now = self.clock()
        with self._lock:
            waits = [
                _wait(self._all, self.overall, now),
                _wait(self._clients.get(client), self.per_client, now),
            ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._clients.pop(client, None) or deque(maxlen=self.per_client.limit)
            times.append(now)
            self._clients[client] = times  # most recent last
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            self._all.append(now)
            while len(self._all) > self.overall.limit:
                self._all.popleft()

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


def _wait(times: deque[datetime] | None, rule: Window, now: datetime) -> timedelta | None:
    if times is None:
        return None
    while times and now - times[0] >= rule.window:
        times.popleft()
    if len(times) < rule.limit:
        return None
    return times[0] + rule.window - now
