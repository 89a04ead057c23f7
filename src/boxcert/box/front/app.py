"""The front's ASGI application: the box's own pages, the upstream for everything else, and
the rules that depend on how a request came in.

Own paths: ``/``, ``/status.json`` and everything under ``/box/``. With an upstream, every
other path (and every websocket) goes to it; without one, they are 404.

Plain HTTP (the port-80 listener): while the served certificate is not trusted (placeholder,
expired) the same site answers over HTTP, so a shop owner can read the homepage; once it is
trusted, every request is redirected to ``https://<the box's name>`` (its name, never its IP,
or the browser would warn), with 307 so no browser keeps the redirect once the box's name
changes with its IP. Except what a visitor who typed the box's *address* needs when its name
does not resolve on their device (the rebinding case): by IP, the homepage itself (whose
script tries the name and goes there when it works), its stylesheet and script, the DNS help
pages, and ``/box/ping`` (the script's probe, never redirected) still answer over HTTP.
HTTPS answers carry HSTS only while the certificate is trusted.

The own pages are a :mod:`boxcert.web` site: sessions and CSRF (:class:`~boxcert.web.Sessions`),
the security headers with a CSP that allows no script (the pages need none) and
``Cache-Control: no-store`` on everything but the versioned stylesheet.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxcert.box.front import credentials, ownpages
from boxcert.box.front.context import MOUNT, FrontContext
from boxcert.box.front.homepage import box_host, host_ip
from boxcert.box.front.proxy import UpstreamProxy
from boxcert.web import MemorySessionStore, SecurityHeaders, SessionPolicy, Sessions

log = logging.getLogger(__name__)

OWN_EXACT = frozenset({"/", "/status.json"})
# A box's login guards its credentials: sessions end sooner than on the hub's pages.
SESSION_POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
OWN_PREFIX = "/box/"
PING_PATH = "/box/ping"
# Answered over plain HTTP by IP even once the certificate is trusted (see the docstring).
_BY_IP_EXACT = frozenset({"/", "/box/", PING_PATH})
_BY_IP_PREFIXES = ("/box/static/", "/box/diagnosis/")


def is_own_path(path: str) -> bool:
    return path in OWN_EXACT or path.startswith(OWN_PREFIX) or path == "/box"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def plain_exempt(scope: Scope) -> bool:
    """A plain-HTTP request answered here even though the certificate is trusted."""
    path = scope["path"]
    if path == PING_PATH:
        return True
    if host_ip(_header(scope, b"host")) is None:
        return False
    return path in _BY_IP_EXACT or path.startswith(_BY_IP_PREFIXES)


def redirect_target(host: str, https_port: int, scope: Scope) -> str:
    """``https://<host>[:port]<path>[?query]`` for a plain-HTTP request."""
    shown = f"[{host}]" if ":" in host else host
    port = "" if https_port == 443 else f":{https_port}"
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"https://{shown}{port}{path}" + (f"?{query}" if query else "")


def own_site(front: FrontContext) -> ASGIApp:
    pages = front.pages

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        texts = {
            404: ("Not found", "The box has no page at this address."),
            405: ("Not allowed", "This address does not take that kind of request."),
        }
        title, text = texts.get(status, ("Error", "The request could not be answered."))
        return pages.message(request, status, title, text, back="/")

    app = Starlette(
        routes=[*front.gate.routes(), *ownpages.routes(front), *credentials.routes(front)],
        exception_handlers={HTTPException: http_error},
    )
    static = f"{MOUNT}/static/"
    sessions = Sessions(
        app,
        store=MemorySessionStore(),
        stamp_of=front.accounts.stamp,
        clock=front.clock,
        policy=SESSION_POLICY,
        exempt=(static,),
        refuse=pages.refusal,
    )
    return SecurityHeaders(sessions, no_store=lambda path: not path.startswith(static))


class FrontRouter:
    """Top-level ASGI app: plain-HTTP policy, HSTS, own pages or upstream."""

    def __init__(self, front: FrontContext) -> None:
        self.front = front
        self.own = own_site(front)
        self.proxy = UpstreamProxy(front.upstream) if front.upstream else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        plain = scope.get("scheme") in ("http", "ws")
        trusted = self.front.trusted()
        if plain and trusted and not (scope["type"] == "http" and plain_exempt(scope)):
            host = box_host((await run_in_threadpool(self.front.backend.status)).box.url)
            if host:
                await self._redirect(scope, receive, send, host)
                return
        if not plain and trusted and scope["type"] == "http":
            send = self._with_hsts(send)
        if scope["type"] == "http" and is_own_path(scope["path"]):
            await self.own(scope, receive, send)
        elif self.proxy is not None:
            await self.proxy(scope, receive, send)
        elif scope["type"] == "http":
            await self.own(scope, receive, send)  # its 404 page
        else:
            await send({"type": "websocket.close", "code": 1008})

    def _with_hsts(self, send: Send) -> Send:
        value = f"max-age={self.front.hsts_max_age}".encode()

        async def send_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"strict-transport-security", value))
            await send(message)

        return send_hsts

    async def _redirect(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        target = redirect_target(host, self.front.https_port, scope)
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [
                    (b"location", target.encode("latin-1")),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        """Nothing to start or stop per listener: the server closes the proxy once, after
        every listener has stopped."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(front: FrontContext) -> FrontRouter:
    return FrontRouter(front)
