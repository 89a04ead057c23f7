"""Security headers on every HTTP answer of a site, added in one place.

Always: ``X-Frame-Options: DENY`` and a Content-Security-Policy with ``frame-ancestors 'none'``
(no framing, so no clickjacking of a login or a button), ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer`` (a box's URL or a page path never leaks to the sites a page
links to) and ``Cross-Origin-Opener-Policy: same-origin``. The default policy allows no
script at all: our pages work without JavaScript, so an injected script could not run either.

Where asked: ``Cache-Control: no-store`` (pages that show secrets or private data must not stay
in a browser's or a proxy's cache) and ``Strict-Transport-Security`` (only once the site's
certificate is one browsers trust, else a box would lock itself out of its own homepage).
A header the application set itself is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HSTS_VALUE = "max-age=31536000"


def _always(_: str) -> bool:
    return True


def _never(_: str) -> bool:
    return False


class SecurityHeaders:
    """ASGI middleware; ``no_store(path)`` and ``hsts()`` decide the optional headers.

    >>> app = SecurityHeaders(app, no_store=lambda path: not path.startswith("/static/"))
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        no_store: bool | Callable[[str], bool] = False,
        hsts: bool | Callable[[], bool] = False,
        csp: str = DEFAULT_CSP,
    ) -> None:
        self.app = app
        if isinstance(no_store, bool):
            no_store = _always if no_store else _never
        self.no_store = no_store
        self.hsts: Callable[[], bool] = (lambda: hsts) if isinstance(hsts, bool) else hsts
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = self.no_store(scope["path"])
        hsts = scope.get("scheme") == "https" and self.hsts()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                if no_store:
                    headers["Cache-Control"] = "no-store"
                if hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
            await send(message)

        await self.app(scope, receive, send_with_headers)
