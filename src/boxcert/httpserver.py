"""Running one of our ASGI apps over HTTP(S) with uvicorn and our defaults.

Every HTTP server of ours (the issuer, the hub, the box's HTTPS front) runs through
:func:`serve`, so each gets the same protection against slow clients:

- **header timeout**: the request head must be complete within ``Timeouts.header`` seconds of the
  connection opening (or of the previous response on a kept-alive connection), and may not
  exceed ``Timeouts.max_head_bytes``; uvicorn has no such deadline of its own, so a client
  dripping a header byte at a time would hold a descriptor for ever;
- **body timeout**: the body must be complete within ``Timeouts.body`` seconds of the head;
  the app then sees a disconnect (Starlette's ``ClientDisconnect``);
- **keep-alive timeout**: an idle kept-alive connection closes after ``Timeouts.keep_alive``.

Options a site turns on where it needs them: ``websockets`` (uvicorn's sans-I/O websocket
protocol; the box's front relays them to its upstream) and ``proxy_headers`` (believe
``X-Forwarded-For/Proto`` from 127.0.0.1 only: a server behind a TLS proxy on the same machine,
such as the box's pages behind nginx or the hub behind its proxy). A ``tls`` context may carry
an ``sni_callback`` that swaps certificates per handshake; uvicorn uses the context as given.

Time spent by the app itself (an ACME order may take minutes) is not bounded here. The TLS
handshake is bounded by asyncio's own handshake timeout (60 s) before any of the above starts.

Mistakes that stop a server from starting (the address in use, unreadable or mismatched TLS
files, an app whose startup fails) come out as :class:`HttpServerError` with one line to show.
The deadlines are enforced by the HTTP/1.1 protocol classes of :mod:`boxcert.httpprotocol`,
which also send a response's head and body in one system call. :func:`run` runs a server on
uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from boxcert.httpprotocol import DEFAULT_TIMEOUTS, Timeouts, protocol_class

__all__ = [
    "DEFAULT_TIMEOUTS",
    "HttpServerError",
    "Timeouts",
    "base_url",
    "bind",
    "protocol_class",
    "run",
    "running",
    "serve",
    "tls_context",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class HttpServerError(Exception):
    """The server cannot start; the message is one line for the operator."""


# --- starting -------------------------------------------------------------------------------


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` (typically :func:`serve`) to completion on uvloop when it is installed —
    uvicorn picks it only when it makes the loop itself, and it answers several times more
    requests a second than asyncio's own loop — else on asyncio's.

    SIGTERM ends the process as SystemExit(0) instead of killing it outright: uvicorn raises
    the signal again once its graceful shutdown is done, and with the default handler the
    process would die before the callers' ``finally`` blocks ran (the access log's last lines
    would be lost).
    """
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for ``cert`` (chain, leaf first) and ``key``: TLS 1.2 or newer.

    Raises HttpServerError naming the files when they cannot be read or do not match.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except FileNotFoundError as err:
        raise HttpServerError(f"TLS file {err.filename} does not exist") from err
    except (OSError, ssl.SSLError) as err:
        reason = _tls_files_problem(cert, key) or (
            getattr(err, "reason", None) or getattr(err, "strerror", None) or str(err)
        )
        raise HttpServerError(
            f"cannot use TLS certificate {cert} with key {key}: {reason}"
        ) from err
    return context


def _tls_files_problem(cert: Path, key: Path) -> str | None:
    """What is wrong with the files, in words, when their first lines tell (OpenSSL's own
    reason is "PEM lib" for most of these)."""
    try:
        cert_head = cert.read_bytes()[: 64 * 1024]
        key_head = key.read_bytes()[: 64 * 1024]
    except OSError:
        return None
    cert_has_cert = b"-----BEGIN CERTIFICATE-----" in cert_head
    key_has_key = b"PRIVATE KEY-----" in key_head
    if not cert_has_cert and b"PRIVATE KEY-----" in cert_head and b"CERTIFICATE" in key_head:
        return "the two files are swapped (--tls-cert takes the certificate, --tls-key the key)"
    if not cert_has_cert:
        return "the certificate file holds no PEM certificate"
    if not key_has_key:
        return "the key file holds no PEM private key"
    if b"ENCRYPTED" in key_head:
        return "the private key is encrypted; give an unencrypted key (kept 0600)"
    return None


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port). ``reuse_port``: with
    SO_REUSEPORT, so that several processes of one user serve the port, the kernel spreading
    connections across them.

    ``host`` empty: every address, IPv6 and IPv4 on one dual-stack socket where the system has
    IPv6, else every IPv4 address.
    """
    if host:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as err:
            raise HttpServerError(f"cannot listen on {host}:{port}: {err.strerror}") from err
        family, address = infos[0][0], infos[0][4]
        return _listen(family, address, host, port, dual_stack=False, reuse_port=reuse_port)
    if socket.has_ipv6:
        try:
            return _listen(
                socket.AF_INET6, ("::", port), "*", port, dual_stack=True, reuse_port=reuse_port
            )
        except HttpServerError as err:
            cause = err.__cause__
            if isinstance(cause, OSError) and cause.errno in (errno.EADDRINUSE, errno.EACCES):
                raise
    return _listen(
        socket.AF_INET,
        ("0.0.0.0", port),  # noqa: S104
        "*",
        port,
        dual_stack=False,
        reuse_port=reuse_port,
    )


def _listen(
    family: socket.AddressFamily,
    address: Any,
    shown: str,
    port: int,
    *,
    dual_stack: bool,
    reuse_port: bool,
) -> socket.socket:
    # The protocol number matters: asyncio sets TCP_NODELAY on accepted sockets only when it
    # is IPPROTO_TCP, and without it each answer waits out a 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            reason = "the address is already in use (is another server running?)"
        elif err.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges)"
        else:
            reason = err.strerror or str(err)
        raise HttpServerError(f"cannot listen on {shown}:{port}: {reason}") from err
    return sock


def base_url(sock: socket.socket, tls: bool) -> str:
    """``http(s)://host:port`` of a bound socket, IPv6 hosts in brackets."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, telling us once it is started (lifespan done, socket serving).

    With ``own_signals`` False it leaves SIGINT/SIGTERM alone: the caller stops it through
    ``stop`` (several servers in one loop must not fight over the signals, and uvicorn would
    raise a captured signal again once it has stopped).
    """

    def __init__(
        self, config: uvicorn.Config, on_started: Callable[[], None], *, own_signals: bool = True
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._own_signals = own_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self._own_signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # An idle kept-alive connection has nothing left to finish; closing it gracefully
        # would wait for a TLS peer's close_notify that an idle client never sends.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets=sockets)


def close_after_early_answer(app: AsgiApp) -> AsgiApp:
    """Answer with ``Connection: close`` when the app answers before the request body is in.

    An app may refuse a body halfway (413 too large, 401 before reading): the rest of that body
    is still on its way, and read as the next request it would break the connection under a
    client that reuses it. Closing after such an answer is what HTTP/1.1 expects (RFC 9112
    §9.6); uvicorn does it when it sees the header.
    """

    async def wrapped(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body_in = False

        async def tracked_receive() -> Message:
            nonlocal body_in
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_in = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_in:
                method = scope.get("method", "GET")
                declared = any(
                    name.lower() in (b"content-length", b"transfer-encoding")
                    for name, _ in scope.get("headers", [])
                )
                if declared or method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                    headers = list(message.get("headers", []))
                    headers.append((b"connection", b"close"))
                    message = {**message, "headers": headers}
            await send(message)

        await app(scope, tracked_receive, closing_send)

    return wrapped


async def serve(
    app: AsgiApp,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    implementation: str = "auto",
    sock: socket.socket | None = None,
    websockets: bool = False,
    proxy_headers: bool = False,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (in the main thread) or, when ``stop`` is given, until
    it is set (the caller then owns the signals).

    ``on_ready`` gets the base URL once the app's startup has run and the socket serves.
    ``sock``: an already bound socket (from :func:`bind`) instead of ``host:port``.
    ``websockets``: accept websocket upgrades. ``proxy_headers``: believe ``X-Forwarded-*``
    from 127.0.0.1. Raises HttpServerError when the server cannot start.
    """
    listener = sock if sock is not None else bind(host, port)
    url = base_url(listener, tls is not None)
    config = uvicorn.Config(
        close_after_early_answer(app),
        http=protocol_class(timeouts, implementation),
        lifespan="auto",
        log_config=None,
        log_level="warning",
        ws="websockets-sansio" if websockets else "none",
        access_log=False,
        server_header=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips="127.0.0.1",
        timeout_keep_alive=timeouts.keep_alive,
        timeout_graceful_shutdown=max(1, round(timeouts.graceful_shutdown)),
    )
    config.load()
    config.ssl = tls  # our context, built and checked before uvicorn sees it

    server = _Server(
        config,
        lambda: on_ready(url) if on_ready is not None else None,
        own_signals=stop is None,
    )
    watcher: asyncio.Task[None] | None = None
    if stop is not None:

        async def watch() -> None:
            await stop.wait()
            server.should_exit = True

        watcher = asyncio.create_task(watch())
    try:
        await server.serve(sockets=[listener])
    except SystemExit as err:
        if server.started or err.code == 0:
            raise  # a SIGTERM after (or during) serving: see run()
        # uvicorn exits when the app's startup fails
        raise HttpServerError("the application failed to start; see the log above") from err
    finally:
        if watcher is not None:
            watcher.cancel()
        listener.close()


@contextlib.contextmanager
def running(
    app: AsgiApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: ssl.SSLContext | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    implementation: str = "auto",
    websockets: bool = False,
    start_timeout: float = 30.0,
) -> Iterator[str]:
    """Run ``app`` in a background thread (its own event loop) and yield its base URL; stop it
    on exit. For tests and for embedding a server in a process that does other work."""
    listener = bind(host, port)
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                serve(
                    app,
                    host,
                    port,
                    tls=tls,
                    timeouts=timeouts,
                    stop=stop,
                    sock=listener,
                    implementation=implementation,
                    websockets=websockets,
                    on_ready=lambda _: ready.set(),
                )
            )
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="httpserver", daemon=True)
    url = base_url(listener, tls is not None)
    thread.start()
    try:
        if not ready.wait(start_timeout) or failure:
            raise HttpServerError(f"the server did not start: {failure[0] if failure else '?'}")
        yield url
    finally:
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(start_timeout)
