"""The reverse proxy to the box's applications (``--upstream URL``).

Every request the box's own pages do not take goes to the upstream, streamed both ways (the
request body as it arrives, the answer as the upstream sends it, compressed bytes left as
they are), with ``X-Forwarded-For`` (appended to), ``X-Forwarded-Proto`` and
``X-Forwarded-Host``; ``Host`` becomes the upstream's, as nginx does by default. Hop-by-hop
headers are dropped in both directions. Websockets are relayed message by message; the
upstream side uses the ``websockets`` library (its asyncio client).

An upstream that cannot be reached gets the client a 502 (504 on a timeout) with one line of
text, never a traceback; a websocket it refuses is refused to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urlsplit

import httpx
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Origin, Subprotocol

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
WEBSOCKET_OWN = frozenset(
    {
        "host",
        "origin",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
    }
)
TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=60.0, pool=10.0)
MAX_WEBSOCKET_MESSAGE = 16 * 1024 * 1024


class UpstreamError(ValueError):
    """An upstream URL we cannot proxy to."""


def parse_upstream(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], base path) of an ``http(s)://`` upstream URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise UpstreamError(f"--upstream must be an http:// or https:// URL, not {url!r}")
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def forwarded_headers(
    headers: Iterable[tuple[str, str]], scope: Scope, *, drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The request headers to send upstream: hop-by-hop ones and those ``Connection`` names
    dropped, ``Host`` left to the client library, ``X-Forwarded-*`` set."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for name, value in headers
        if name == "connection"
        for token in value.split(",")
    }
    skip = HOP_BY_HOP | named | drop | {"host", "x-forwarded-proto", "x-forwarded-host"}
    out = [(k, v) for k, v in headers if k not in skip and k != "x-forwarded-for"]
    client = scope.get("client")
    earlier = [v for k, v in headers if k == "x-forwarded-for"]
    chain = ", ".join([*earlier, client[0]] if client else earlier)
    if chain:
        out.append(("x-forwarded-for", chain))
    out.append(
        ("x-forwarded-proto", "https" if scope.get("scheme") in ("https", "wss") else "http")
    )
    host = next((v for k, v in headers if k == "host"), "")
    if host:
        out.append(("x-forwarded-host", host))
    return out


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    items = list(headers)
    named = {
        token.strip().lower().encode()
        for k, v in items
        if k.lower() == b"connection"
        for token in v.decode("latin-1").split(",")
    }
    return [
        (k, v)
        for k, v in items
        if k.lower().decode("latin-1") not in HOP_BY_HOP and k.lower() not in named
    ]


class UpstreamProxy:
    """ASGI app: proxies ``http`` and ``websocket`` scopes to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.scheme, self.netloc, self.base = parse_upstream(upstream)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=TIMEOUT,
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _target(self, scope: Scope, scheme: str) -> str:
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = f"{scheme}://{self.netloc}{self.base}{path.decode('latin-1')}"
        return target + (f"?{query.decode('latin-1')}" if query else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- HTTP -------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body", False):
                    return

        request = self.client.build_request(
            scope["method"],
            self._target(scope, self.scheme),
            headers=forwarded_headers(_headers(scope), scope),
            content=body() if scope["method"] not in ("GET", "HEAD") else None,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            await _plain(send, 504, "The box's application did not answer in time.")
            return
        except httpx.HTTPError as err:
            log.warning("upstream %s://%s unreachable: %s", self.scheme, self.netloc, err)
            await _plain(send, 502, "The box's application is not reachable.")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers(response.headers.raw),
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as err:
            # The answer broke off half-way: all we can do is end the client's connection.
            log.warning("upstream answer broke off: %s", err)
        except OSError:
            pass  # the client went away; the upstream answer is dropped below
        finally:
            await response.aclose()

    # --- websockets -------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connect_message = await receive()
        if connect_message["type"] != "websocket.connect":
            return
        headers = _headers(scope)
        origin = next((v for k, v in headers if k == "origin"), None)
        scheme = "wss" if self.scheme == "https" else "ws"
        try:
            upstream = await connect(
                self._target(scope, scheme),
                additional_headers=forwarded_headers(headers, scope, drop=WEBSOCKET_OWN),
                origin=Origin(origin) if origin else None,
                subprotocols=[Subprotocol(p) for p in scope.get("subprotocols", [])] or None,
                open_timeout=10,
                max_size=MAX_WEBSOCKET_MESSAGE,
                compression=None,
                user_agent_header=None,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as err:
            log.warning("upstream websocket refused: %s", err)
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol, "headers": []})
        async with upstream:
            await _relay(upstream, receive, send)


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    async def from_client() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=message.get("code", 1000))
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def from_upstream() -> None:
        try:
            async for data in upstream:
                out: Message = {"type": "websocket.send"}
                out["text" if isinstance(data, str) else "bytes"] = data
                await send(out)
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        with contextlib.suppress(Exception):  # the client may already be gone
            await send({"type": "websocket.close", "code": code if code != 1005 else 1000})

    tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode() + b"\n"})
