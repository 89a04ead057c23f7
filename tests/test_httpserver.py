"""The shared HTTP server: our deadlines on real sockets, for both of uvicorn's HTTP/1.1
protocols, and one readable error for each way a server fails to start."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from boxcert import devstack
from boxcert.httpserver import HttpServerError, Timeouts, bind, running, serve, tls_context

SHORT = Timeouts(header=0.5, body=0.5, keep_alive=5)
GUARD = 20.0  # only a hang guard: a deadline that works closes long before


class Recorder:
    def __init__(self) -> None:
        self.disconnects = 0
        self.bodies: list[bytes] = []

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:
                self.disconnects += 1
                return Response(status_code=400)
            self.bodies.append(body)
            return PlainTextResponse(f"got {len(body)}")

        async def slow(_: Request) -> Response:
            await asyncio.sleep(1.5)  # longer than both deadlines: the app's time is its own
            return PlainTextResponse("done")

        async def hello(_: Request) -> Response:
            return JSONResponse({"hello": "world"})

        return Starlette(
            routes=[Route("/echo", echo, methods=["POST"]), Route("/slow", slow), Route("/", hello)]
        )


@pytest.fixture(params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with running(recorder.app(), timeouts=SHORT, implementation=request.param) as url:
        yield url, recorder


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=GUARD)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes; True when it did (False: the guard ran out)."""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_serves_and_reports_its_url(server: tuple[str, Recorder]) -> None:
    url, _ = server
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "/").json() == {"hello": "world"}


def test_partial_head_is_cut_off(server: tuple[str, Recorder]) -> None:
    sock = _connect(server[0])
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert _closed_by_server(sock)
    sock.close()


def test_silent_connection_is_cut_off(server: tuple[str, Recorder]) -> None:
    sock = _connect(server[0])
    assert _closed_by_server(sock)
    sock.close()


def test_dripping_head_does_not_move_the_deadline(server: tuple[str, Recorder]) -> None:
    sock = _connect(server[0])
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    sock.settimeout(0.05)
    closed = False
    for _ in range(400):  # one byte per 50 ms for up to 20 s, each well inside the deadline
        try:
            sock.sendall(b"X-A: b\r\n")
            if sock.recv(1) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    sock.close()
    assert closed


def test_stalled_body_is_cut_off_and_the_app_sees_a_disconnect(
    server: tuple[str, Recorder],
) -> None:
    url, recorder = server
    sock = _connect(url)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    assert _closed_by_server(sock)
    sock.close()
    deadline = time.monotonic() + GUARD
    while recorder.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert recorder.disconnects == 1 and recorder.bodies == []


def test_kept_alive_connection_gets_a_new_head_deadline(server: tuple[str, Recorder]) -> None:
    sock = _connect(server[0])
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    first = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the second head never completes
    assert _closed_by_server(sock)
    sock.close()


def test_oversized_head_is_refused(server: tuple[str, Recorder]) -> None:
    sock = _connect(server[0])
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n")
    assert _closed_by_server(sock)
    sock.close()


def test_slow_app_and_complete_requests_are_untouched(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    with httpx.Client(timeout=GUARD) as client:
        assert client.get(url + "/slow").text == "done"
        assert client.post(url + "/echo", content=b"x" * 200_000).text == "got 200000"
    assert recorder.disconnects == 0


def test_many_slow_clients_do_not_lock_out_a_real_one(server: tuple[str, Recorder]) -> None:
    url, _ = server
    slow = [_connect(url) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
    assert httpx.get(url + "/", timeout=GUARD).status_code == 200
    assert all(_closed_by_server(sock) for sock in slow)
    for sock in slow:
        sock.close()


def test_address_in_use_is_one_readable_error() -> None:
    taken = bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    with pytest.raises(HttpServerError, match=f"cannot listen on 127.0.0.1:{port}: .*in use"):
        bind("127.0.0.1", port)
    taken.close()


def test_bad_tls_files_are_one_readable_error(tmp_path: Path) -> None:
    _, cert, key = devstack.tls_files(tmp_path / "a")
    _, other_cert, _ = devstack.tls_files(tmp_path / "b")
    with pytest.raises(HttpServerError, match="does not exist"):
        tls_context(tmp_path / "missing.pem", key)
    with pytest.raises(HttpServerError, match="cannot use TLS certificate"):
        tls_context(other_cert, key)  # the key does not match
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(HttpServerError, match="cannot use TLS certificate"):
        tls_context(garbage, key)
    assert isinstance(tls_context(cert, key), ssl.SSLContext)


def test_tls_with_deadlines(tmp_path: Path) -> None:
    ca, cert, key = devstack.tls_files(tmp_path)
    recorder = Recorder()
    with running(recorder.app(), tls=tls_context(cert, key), timeouts=SHORT) as url:
        assert url.startswith("https://127.0.0.1:")
        verify = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(url + "/", verify=verify).json() == {"hello": "world"}
        raw = _connect(url.replace("https", "http"))
        tls = verify.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert _closed_by_server(tls)
        tls.close()


async def test_a_failing_startup_is_one_readable_error() -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def broken(_: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    app = Starlette(lifespan=broken)
    with pytest.raises(HttpServerError, match="failed to start"):
        await serve(app, "127.0.0.1", 0)


async def test_stop_event_and_ready_callback() -> None:
    stop = asyncio.Event()
    urls: list[str] = []

    def ready(url: str) -> None:
        urls.append(url)
        stop.set()

    await asyncio.wait_for(
        serve(Recorder().app(), "127.0.0.1", 0, on_ready=ready, stop=stop), GUARD
    )
    assert len(urls) == 1 and urls[0].startswith("http://127.0.0.1:")


def test_idle_kept_alive_tls_clients_do_not_hold_up_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca, cert, key = devstack.tls_files(tmp_path)
    patient = Timeouts(graceful_shutdown=3)  # a held-up shutdown logs an error after 3 s
    client = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)))
    with running(Recorder().app(), tls=tls_context(cert, key), timeouts=patient) as url:
        assert client.get(url + "/").status_code == 200  # the connection stays open, idle
    client.close()
    assert "graceful shutdown exceeded" not in caplog.text


def test_listening_socket_is_tcp_so_answers_are_not_delayed() -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when the listener's protocol is
    IPPROTO_TCP; without it every answer written in two parts waits for a delayed ACK."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


@pytest.mark.parametrize("implementation", ["httptools", "h11"])
def test_an_answer_before_the_body_closes_the_connection(implementation: str) -> None:
    """A body refused halfway (413) must not be read as the next request of a kept-alive
    connection: the answer says `Connection: close`, and the client's next request works."""

    async def refuse(_: Request) -> Response:
        return PlainTextResponse("too large", status_code=413)

    app = Starlette(routes=[Route("/up", refuse, methods=["POST"]), Route("/", refuse)])
    with running(app, implementation=implementation) as url, httpx.Client(timeout=GUARD) as c:
        first = c.post(url + "/up", content=b"[" * 200_000)
        assert first.status_code == 413 and first.headers["connection"] == "close"
        for _ in range(3):
            assert c.get(url + "/").status_code == 413  # a plain GET keeps its connection
        assert c.get(url + "/").headers.get("connection") != "close"
