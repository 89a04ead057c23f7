"""Server-side sessions and CSRF protection, as one ASGI middleware.

Every visitor carries one cookie holding a random value (256 bits). The cookie is
``HttpOnly``, ``SameSite=Strict``, ``Path=/``, and over HTTPS ``Secure`` with the ``__Host-``
name prefix (so no other host of the zone can plant one). The value means nothing by itself:

- logged in: a :class:`SessionStore` holds a :class:`Session` under the SHA-256 of the value
  (a store never holds a usable cookie). A session ends after ``idle`` without requests, after
  ``absolute`` in any case, at logout, or when the account's *stamp* changes (a new password
  ends every session of the account, even one opened in another process);
- not logged in: nothing is stored, so anonymous visits cost no memory.

Logging in and out gives the visitor a new value (no session fixation).

CSRF: the token of a visitor is an HMAC of their cookie value under a key of the process, so
it needs no storage and changes at every login. Every POST/PUT/PATCH/DELETE outside the
``exempt`` paths must carry it — as the ``csrf_token`` field of a form body, or in an
``X-CSRF-Token`` header — or is refused with 403 before the application sees it. Paths in
``exempt`` (machine endpoints authenticated by their own secrets) never see a session at all,
so a cookie can never act there.

Endpoints find the visitor with :func:`visit_of` and a POST's checked form in ``visit.form``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxcert.clock import Clock, system_clock
from boxcert.web.forms import MAX_FORM_BYTES, FormError, is_form, parse_form

COOKIE = "boxcert_session"
SECURE_COOKIE = "__Host-boxcert_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SCOPE_KEY = "boxcert.visit"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Session:
    account_id: str
    stamp: str
    created_at: datetime
    last_seen: datetime


class SessionStore(Protocol):
    """Where logged-in sessions live, keyed by the SHA-256 (hex) of the cookie value.

    Calls are quick and thread-safe. A store may forget any session at any time (the visitor
    then logs in again); expiry is decided by the middleware, not by the store.
    """

    def get(self, key: str) -> Session | None: ...

    def put(self, key: str, session: Session) -> None: ...

    def delete(self, key: str) -> None: ...


class MemorySessionStore:
    """Sessions in this process's memory, at most ``max_sessions`` (the least recently used go
    first). Enough for one process; a site served by several processes needs a shared store."""

    def __init__(self, max_sessions: int = 1000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
            return session

    def put(self, key: str, session: Session) -> None:
        with self._lock:
            self._sessions[key] = session
            self._sessions.move_to_end(key)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=2)
    absolute: timedelta = timedelta(hours=12)
    touch_every: timedelta = timedelta(minutes=1)  # how stale last_seen may get in the store


def _store_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("ascii")).hexdigest()


class Visit:
    """The visitor of one request: their cookie, their session if logged in, their CSRF token."""

    def __init__(self, cookie: str, session: Session | None, secure: bool, csrf_key: bytes):
        self.cookie = cookie
        self.session = session
        self.secure = secure
        self.form: dict[str, str] = {}
        self.cookie_changed = False
        self._csrf_key = csrf_key
        self._pending: list[tuple[str, Session | None]] = []  # store writes after the login

    @property
    def logged_in(self) -> bool:
        return self.session is not None

    @property
    def account_id(self) -> str | None:
        return self.session.account_id if self.session else None

    @property
    def csrf_token(self) -> str:
        digest = hmac.new(self._csrf_key, b"csrf:" + self.cookie.encode(), hashlib.sha256)
        return digest.hexdigest()

    def login(self, account_id: str, stamp: str, now: datetime) -> None:
        """Open a session under a new cookie value; the old value stops meaning anything."""
        self._pending.append((_store_key(self.cookie), None))
        self.cookie = secrets.token_urlsafe(32)
        self.cookie_changed = True
        self.session = Session(account_id, stamp, now, now)
        self._pending.append((_store_key(self.cookie), self.session))

    def logout(self) -> None:
        self._pending.append((_store_key(self.cookie), None))
        self.cookie = secrets.token_urlsafe(32)
        self.cookie_changed = True
        self.session = None

    def take_store_writes(self) -> list[tuple[str, Session | None]]:
        """The store changes that login/logout asked for (None: delete), once."""
        writes, self._pending = self._pending, []
        return writes


def visit_of(conn: HTTPConnection) -> Visit | None:
    """The visit the middleware attached; None on an exempt path or without the middleware."""
    visit = conn.scope.get(_SCOPE_KEY)
    return visit if isinstance(visit, Visit) else None


Refuse = Callable[[Scope, int, str], Awaitable[Response]]


async def _plain_refusal(_: Scope, status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


class Sessions:
    """ASGI middleware: attaches a :class:`Visit`, checks CSRF, writes the cookie.

    ``stamp_of(account_id)`` returns the account's current stamp (None: the account is gone);
    it runs in a worker thread on each request of a logged-in visitor. ``refuse`` renders the
    403/400/413 answers the middleware gives itself.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: SessionStore,
        stamp_of: Callable[[str], str | None],
        clock: Clock = system_clock,
        policy: SessionPolicy = SessionPolicy(),
        exempt: tuple[str, ...] = (),
        csrf_key: bytes | None = None,
        refuse: Refuse = _plain_refusal,
    ) -> None:
        self.app = app
        self.store = store
        self.stamp_of = stamp_of
        self.clock = clock
        self.policy = policy
        self.exempt = exempt
        self.csrf_key = csrf_key or secrets.token_bytes(32)
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        name = SECURE_COOKIE if secure else COOKIE
        value = HTTPConnection(scope).cookies.get(name, "")
        visit = Visit(value, None, secure, self.csrf_key)
        if not _COOKIE_VALUE.match(value):
            visit.cookie, visit.cookie_changed = secrets.token_urlsafe(32), True
        else:
            visit.session = await self._live_session(value)
        scope[_SCOPE_KEY] = visit

        if scope["method"] in _UNSAFE_METHODS:
            checked = await self._check_csrf(scope, receive, visit)
            if isinstance(checked, Response):
                await self._respond(checked, scope, receive, send, visit, name)
                return
            receive = checked

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._flush(visit)
                if visit.cookie_changed:
                    cookie = _set_cookie(name, visit.cookie, secure)
                    message.setdefault("headers", []).append((b"set-cookie", cookie))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _respond(
        self,
        response: Response,
        scope: Scope,
        receive: Receive,
        send: Send,
        visit: Visit,
        name: str,
    ) -> None:
        if visit.cookie_changed:
            response.headers.append(
                "set-cookie", _set_cookie(name, visit.cookie, visit.secure).decode("latin-1")
            )
        await response(scope, receive, send)

    async def _live_session(self, cookie: str) -> Session | None:
        key = _store_key(cookie)
        session = self.store.get(key)
        if session is None:
            return None
        now = self.clock()
        expired = (
            now - session.last_seen > self.policy.idle
            or now - session.created_at > self.policy.absolute
        )
        if not expired:
            expired = await run_in_threadpool(self.stamp_of, session.account_id) != session.stamp
        if expired:
            self.store.delete(key)
            return None
        if now - session.last_seen >= self.policy.touch_every:
            session = replace(session, last_seen=now)
            self.store.put(key, session)
        return session

    async def _check_csrf(self, scope: Scope, receive: Receive, visit: Visit) -> Receive | Response:
        """Read the body (bounded), check the token; a new ``receive`` replaying the body."""
        headers = HTTPConnection(scope).headers
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return await self.refuse(scope, 400, "The request ended early.")
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                return await self.refuse(scope, 413, "The form is too large.")
        token = headers.get(CSRF_HEADER, "")
        if is_form(headers.get("content-type")):
            try:
                visit.form = parse_form(body)
            except FormError as err:
                return await self.refuse(scope, 400, f"The form cannot be read: {err}.")
            token = visit.form.get(CSRF_FIELD, token)
        if not hmac.compare_digest(token.encode(), visit.csrf_token.encode()):
            return await self.refuse(
                scope,
                403,
                "This form has expired or did not come from this site. "
                "Open the page again and resend it.",
            )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _flush(self, visit: Visit) -> None:
        for key, session in visit.take_store_writes():
            if session is None:
                self.store.delete(key)
            else:
                self.store.put(key, session)


def _set_cookie(name: str, value: str, secure: bool) -> bytes:
    attributes = f"{name}={value}; Path=/; HttpOnly; SameSite=Strict"
    if secure:
        attributes += "; Secure"
    return attributes.encode("latin-1")
