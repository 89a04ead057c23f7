"""Visitors of the box's own pages: a cookie for everyone, a CSRF token bound to it, a session
once logged in, and a throttle on failed logins.

Every visitor gets a random cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS,
which is every request once the certificate is trusted, since plain HTTP then redirects). The
CSRF token is an HMAC of the cookie under a key made at start, so each form of the page a
visitor opened carries a token no other site can know. Logging in swaps the cookie for a new one
(no fixation) and remembers, server-side, only the SHA-256 of the cookie with the password's
stamp, so a password change ends all sessions.

Private stand-ins for ``boxcert.web.sessions`` and ``boxcert.web.throttle``, which another
branch brings: swap on merge.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from boxcert.clock import Clock, system_clock

COOKIE = "boxcert_box"
CSRF_FIELD = "csrf_token"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    max_sessions: int = 200


@dataclass
class _Session:
    stamp: str
    created: datetime
    seen: datetime


def new_cookie() -> str:
    return secrets.token_urlsafe(32)


def valid_cookie(value: str) -> bool:
    return bool(_COOKIE_VALUE.fullmatch(value))


def set_cookie_header(value: str, secure: bool) -> str:
    header = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
    return header + "; Secure" if secure else header


class SessionBook:
    """Logged-in cookies (by hash), CSRF tokens, on an injected clock; thread-safe."""

    def __init__(self, *, clock: Clock = system_clock, policy: SessionPolicy = SessionPolicy()):
        self.clock = clock
        self.policy = policy
        self._key = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._key, b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str, token: str) -> bool:
        return bool(cookie) and hmac.compare_digest(
            token.encode("utf-8", "replace"), self.csrf_token(cookie).encode()
        )

    @staticmethod
    def _key_of(cookie: str) -> str:
        return hashlib.sha256(cookie.encode()).hexdigest()

    def login(self, stamp: str) -> str:
        """A new cookie value with a session behind it."""
        cookie = new_cookie()
        now = self.clock()
        with self._lock:
            self._sessions[self._key_of(cookie)] = _Session(stamp, now, now)
            while len(self._sessions) > self.policy.max_sessions:
                self._sessions.popitem(last=False)
        return cookie

    def logout(self, cookie: str) -> None:
        with self._lock:
            self._sessions.pop(self._key_of(cookie), None)

    def logged_in(self, cookie: str, stamp: str) -> bool:
        if not valid_cookie(cookie):
            return False
        key, now = self._key_of(cookie), self.clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return False
            if (
                session.stamp != stamp
                or now - session.seen > self.policy.idle
                or now - session.created > self.policy.absolute
            ):
                del self._sessions[key]
                return False
            session.seen = now
            return True


class LoginThrottle:
    """Failed logins: ``per_client`` within ``window`` from one address, ``overall`` from all
    together; then refused until the oldest failure leaves the window (before any password
    work). Memory is bounded by ``max_clients``."""

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        per_client: int = 5,
        overall: int = 50,
        window: timedelta = timedelta(minutes=15),
        max_clients: int = 10_000,
    ) -> None:
        self.clock = clock
        self.per_client, self.overall, self.window = per_client, overall, window
        self.max_clients = max_clients
        self._clients: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._all: deque[datetime] = deque(maxlen=overall)
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> timedelta | None:
        now = self.clock()
        with self._lock:
            waits = [
                self._wait(self._all, self.overall, now),
                self._wait(self._clients.get(client), self.per_client, now),
            ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def _wait(self, times: deque[datetime] | None, limit: int, now: datetime) -> timedelta | None:
        if times is None:
            return None
        while times and now - times[0] >= self.window:
            times.popleft()
        return times[0] + self.window - now if len(times) >= limit else None

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._clients.pop(client, None) or deque(maxlen=self.per_client)
            times.append(now)
            self._clients[client] = times
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            self._all.append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
