"""The visitor of one request to the box's own pages: their cookie and what it unlocks.

:class:`VisitorCookie` (ASGI middleware) gives every visitor a cookie before the page renders,
so the page's forms can carry a CSRF token bound to it, and writes a changed cookie (login,
logout) on the way out. Endpoints use :func:`visitor_of`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxcert.box.front.sessions import COOKIE, new_cookie, set_cookie_header, valid_cookie

_KEY = "boxcert.visitor"


@dataclass
class Visitor:
    cookie: str
    changed: bool = False

    def replace(self, cookie: str) -> None:
        self.cookie, self.changed = cookie, True


def visitor_of(conn: HTTPConnection) -> Visitor:
    visitor = conn.scope.get(_KEY)
    if not isinstance(visitor, Visitor):  # the middleware is always installed; be safe anyway
        visitor = Visitor(new_cookie(), True)
        conn.scope[_KEY] = visitor
    return visitor


class VisitorCookie:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = HTTPConnection(scope).cookies.get(COOKIE, "")
        visitor = Visitor(value) if valid_cookie(value) else Visitor(new_cookie(), True)
        scope[_KEY] = visitor
        secure = scope.get("scheme") == "https"

        async def send_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and visitor.changed:
                header = set_cookie_header(visitor.cookie, secure).encode("latin-1")
                message.setdefault("headers", []).append((b"set-cookie", header))
            await send(message)

        await self.app(scope, receive, send_cookie)
