"""The reverse proxy against a real upstream (uvicorn + Starlette on loopback): headers,
streaming both ways, websockets, and an upstream that is down."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from boxcert.box.front.proxy import forwarded_headers, parse_upstream, response_headers
from boxcert.httpserver import running as serve_app
from tests.front_support import front


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "path": request.url.path,
            "query": request.url.query,
            "headers": {k: v for k, v in request.headers.items()},
        },
        headers={"x-upstream": "yes", "connection": "x-private", "x-private": "hop"},
    )


async def upload(request: Request) -> Response:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"sha256": digest.hexdigest(), "size": size})


async def download(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            yield bytes([i % 256]) * 10_000
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def ws_echo(socket: WebSocket) -> None:
    offered = socket.scope.get("subprotocols", [])
    await socket.accept(subprotocol="chat" if "chat" in offered else None)
    await socket.send_text("xff=" + socket.headers.get("x-forwarded-for", ""))
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await socket.close(code=4001)
            return
        if message.get("text") is not None:
            await socket.send_text(message["text"].upper())
        else:
            await socket.send_bytes(message["bytes"][::-1])


UPSTREAM = Starlette(
    routes=[
        Route("/echo/{rest:path}", echo, methods=["GET", "HEAD", "POST", "PUT"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/download", download),
        WebSocketRoute("/ws", ws_echo),
    ]
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_app(UPSTREAM, websockets=True) as url:
        yield url


def test_parse_upstream() -> None:
    assert parse_upstream("http://127.0.0.1:8069/") == ("http", "127.0.0.1:8069", "")
    assert parse_upstream("https://app.local/base/") == ("https", "app.local", "/base")
    for bad in ("ftp://x", "127.0.0.1:8069", "http://", "http://x/?a=1"):
        with pytest.raises(ValueError, match="--upstream"):
            parse_upstream(bad)


def test_forwarded_headers_table() -> None:
    scope = {"client": ("10.0.0.9", 5555), "scheme": "https"}
    headers = [
        ("host", "box.zone"),
        ("connection", "keep-alive, x-secret-hop"),
        ("x-secret-hop", "1"),
        ("keep-alive", "5"),
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "forged"),
        ("cookie", "a=b"),
        ("te", "trailers"),
    ]
    assert forwarded_headers(headers, scope) == [
        ("cookie", "a=b"),
        ("x-forwarded-for", "1.2.3.4, 10.0.0.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "box.zone"),
    ]
    assert response_headers(
        [
            (b"Connection", b"close, X-Drop"),
            (b"x-drop", b"1"),
            (b"Transfer-Encoding", b"chunked"),
            (b"x-keep", b"1"),
        ]
    ) == [(b"x-keep", b"1")]


def test_requests_go_upstream_with_forwarded_headers(tmp_path: Path, upstream: str) -> None:
    with front(tmp_path, upstream=upstream) as f, f.client() as client:
        response = client.get(
            f.url("/echo/a%20b/c?x=1&y=%2F"),
            headers={"x-forwarded-for": "203.0.113.7", "cookie": "s=1"},
        )
        assert response.status_code == 200 and response.headers["x-upstream"] == "yes"
        assert "x-private" not in response.headers
        body = response.json()
        assert body["path"] == "/echo/a b/c" and body["query"] == "x=1&y=%2F"
        seen = body["headers"]
        assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        assert seen["x-forwarded-proto"] == "https"
        assert seen["x-forwarded-host"] == f"127.0.0.1:{f.ports.https_port}"
        assert seen["host"] == upstream.split("//", 1)[1] and seen["cookie"] == "s=1"
        assert "HTTPS certificate" in client.get(f.url("/")).text  # own pages stay own
        assert client.get(f.http_url("/echo/x")).status_code == 307  # trusted: HTTPS only


def test_plain_http_is_proxied_while_untrusted(tmp_path: Path, upstream: str) -> None:
    with front(tmp_path, upstream=upstream, installed=False) as f, f.client() as client:
        plain = client.get(f.http_url("/echo/x")).json()["headers"]
        assert plain["x-forwarded-proto"] == "http"


def test_bodies_stream_both_ways(tmp_path: Path, upstream: str) -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB, sent in chunks

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    with front(tmp_path, upstream=upstream) as f, f.client() as client:
        sent = client.post(f.url("/upload"), content=chunks())
        assert sent.json() == {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
        with client.stream("GET", f.url("/download")) as response:
            got = b"".join(response.iter_bytes())
        assert len(got) == 1_000_000 and got[10_000] == 1


def test_websockets_are_relayed(tmp_path: Path, upstream: str) -> None:
    with front(tmp_path, upstream=upstream) as f:
        context = ssl.create_default_context(cafile=str(f.root))
        context.check_hostname = False

        async def talk() -> tuple[str | None, list[object], int | None]:
            got: list[object] = []
            async with connect(
                f"wss://127.0.0.1:{f.ports.https_port}/ws", ssl=context, subprotocols=["chat"]
            ) as ws:  # type: ignore[list-item]
                got.append(await ws.recv())
                await ws.send("hello")
                got.append(await ws.recv())
                await ws.send(b"\x01\x02\x03")
                got.append(await ws.recv())
                await ws.send("bye")
                await ws.wait_closed()
                return ws.subprotocol, got, ws.close_code

        subprotocol, got, code = asyncio.run(talk())
        assert subprotocol == "chat"
        assert got == ["xff=127.0.0.1", "HELLO", b"\x03\x02\x01"]
        assert code == 4001


def test_an_upstream_that_is_down_gets_a_502_and_a_refused_websocket(tmp_path: Path) -> None:
    with serve_app(UPSTREAM, websockets=True) as gone:
        pass  # its port is free again: nothing listens there
    with front(tmp_path, upstream=gone) as f, f.client() as client:
        response = client.get(f.url("/echo/x"))
        assert response.status_code == 502 and "not reachable" in response.text
        context = ssl.create_default_context(cafile=str(f.root))
        context.check_hostname = False

        async def open_ws() -> None:
            async with connect(f"wss://127.0.0.1:{f.ports.https_port}/ws", ssl=context):
                pass

        with pytest.raises(InvalidStatus):
            asyncio.run(open_ws())
        assert client.get(f.url("/status.json")).status_code == 200


def test_upstream_base_path_and_head(tmp_path: Path, upstream: str) -> None:
    with front(tmp_path, upstream=upstream + "/echo/") as f, f.client() as client:
        body = client.get(f.url("/deep/path?q=1")).json()
        assert body["path"] == "/echo/deep/path" and body["query"] == "q=1"
        head = client.head(f.url("/deep/path"))
        assert head.status_code == 200 and head.content == b""


def test_a_websocket_without_upstream_is_refused(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        context = ssl.create_default_context(cafile=str(f.root))
        context.check_hostname = False

        async def open_ws() -> None:
            async with connect(f"wss://127.0.0.1:{f.ports.https_port}/ws", ssl=context):
                pass

        with pytest.raises(InvalidStatus):
            asyncio.run(open_ws())
