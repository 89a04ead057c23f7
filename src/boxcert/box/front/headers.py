"""Headers on the box's own pages, and the rules for plain HTTP.

Every own answer gets ``X-Frame-Options: DENY``, a CSP with ``frame-ancestors 'none'`` that
allows nothing but the box's own stylesheet and forms, ``nosniff`` and no referrer. Pages
are ``Cache-Control: no-store`` (status and credentials change; nothing a visitor saw should
stay in a cache), the versioned stylesheet may be cached.

Private stand-in for ``boxcert.web.headers``: swap on merge (keep the CSP of this module: the
box's pages need no scripts).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
CACHEABLE_PREFIX = "/box/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(CACHEABLE_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {b"cache-control"} or cacheable
                ]
                headers.extend(PAGE_HEADERS)
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
