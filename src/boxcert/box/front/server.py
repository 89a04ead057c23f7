"""Running the built-in front: HTTPS and plain HTTP in one asyncio loop, certificate hot swap.

:func:`run_front` binds both listeners and serves them through :func:`boxcert.httpserver.serve`
(our header and body deadlines, websockets when there is an upstream) until ``stop`` is set. It
keeps the served pair current two ways: the backend's "installed" event reloads at once (from
the agent's thread, so the next handshake after an install already sees the new pair), and a
cheap ``stat`` of the two files every :data:`WATCH_INTERVAL` seconds catches pairs changed by
another process (``boxcert box ensure`` from a shell, a removed certificate) and asks the
agent to check them.

With ``--front nginx`` the agent's pages listen on loopback only, behind nginx, believing its
``X-Forwarded-*`` from 127.0.0.1 (:mod:`.nginx` keeps nginx's site and pair current).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from boxcert import httpserver
from boxcert.box.front.app import create_app
from boxcert.box.front.backend import FrontBackend
from boxcert.box.front.certswitch import CertificateSwitch
from boxcert.box.front.context import FrontContext
from boxcert.box.front.nginx import NginxCommand, NginxError, NginxFront, NginxSite
from boxcert.box.front.password import PasswordFile
from boxcert.box.front.placeholder import placeholder_paths
from boxcert.box.front.proxy import parse_upstream
from boxcert.clock import Clock, system_clock

log = logging.getLogger(__name__)

WATCH_INTERVAL = 5.0


class FrontError(Exception):
    """The front cannot start; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class NginxOptions:
    """``--front nginx``: nginx listens on the front's ports; the agent's pages listen on
    ``127.0.0.1:agent_port`` (0: any free port) behind it."""

    site_file: Path
    pair_dir: Path
    command: NginxCommand = field(default_factory=NginxCommand)
    agent_port: int = 0


@dataclass(frozen=True, slots=True)
class FrontOptions:
    state_dir: Path  # the front's own files: placeholder pair, password hash
    https_port: int = 443
    http_port: int | None = 80  # None: no plain-HTTP listener
    listen: str = ""  # empty: every address (IPv6 and IPv4)
    upstream: str | None = None
    public_https_port: int | None = None  # the port in redirects, when it differs (NAT)
    watch_interval: float = WATCH_INTERVAL
    nginx: NginxOptions | None = None  # None: the built-in front


@dataclass(frozen=True, slots=True)
class FrontAddresses:
    https_port: int
    http_port: int | None
    agent_port: int | None = None  # nginx front: the agent's pages behind nginx, on loopback


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``host`` empty: every address); FrontError with one line if not."""
    try:
        return httpserver.bind(host, port)
    except httpserver.HttpServerError as err:
        raise FrontError(str(err)) from err


def _pair_signature(paths: tuple[Path, Path]) -> tuple[tuple[int, int, int], ...]:
    found = []
    for path in paths:
        try:
            st = os.stat(path)
            found.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            found.append((0, 0, 0))
    return tuple(found)


def print_password(password: str) -> None:
    """The default way to hand out the first password: once, on the console, not the log."""
    print(  # the console is the point
        f"The box password (shown once; change it on /box/credentials): {password}",
        flush=True,
    )


async def run_front(
    backend: FrontBackend,
    options: FrontOptions,
    *,
    stop: asyncio.Event,
    clock: Clock = system_clock,
    on_ready: Callable[[FrontAddresses], None] | None = None,
    announce_password: Callable[[str], None] = print_password,
) -> None:
    """Serve until ``stop`` is set. Raises FrontError when it cannot start."""
    if options.upstream:
        try:
            parse_upstream(options.upstream)
        except ValueError as err:
            raise FrontError(str(err)) from err
    sockets = _bind_all(options)  # first: a busy port is the one thing said, nothing is made
    try:
        switch = CertificateSwitch(backend.pair_paths, options.state_dir, clock=clock)
        accounts = PasswordFile(options.state_dir / "password")
        accounts.ensure(announce_password)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    https_port = options.https_port if options.nginx else sockets[0].getsockname()[1]
    front = FrontContext(
        backend=backend,
        switch=switch,
        accounts=accounts,
        clock=clock,
        https_port=options.public_https_port or https_port,
        upstream=options.upstream,
    )
    app = create_app(front)
    # One stop for the listeners, set once the caller's stop is: they must not see it before
    # this function is past its start-up.
    listeners_stop = asyncio.Event()
    if options.nginx is None:
        tls = [switch.context] + [None] * (len(sockets) - 1)
        plans = [(sock, context, False) for sock, context in zip(sockets, tls, strict=True)]
    else:
        plans = [(sockets[0], None, True)]
    nginx = _nginx_front(options, sockets[0]) if options.nginx else None
    loop = asyncio.get_running_loop()

    def refresh() -> None:
        switch.reload()
        if nginx is not None:
            loop.call_soon_threadsafe(
                lambda: loop.run_in_executor(None, _apply_nginx, nginx, switch, backend)
            )

    seen = [_pair_signature(backend.pair_paths())]  # the files as last served

    def installed() -> None:
        try:
            refresh()
            seen[0] = _pair_signature(backend.pair_paths())  # the agent's own change
        except Exception:  # never break the agent's thread
            log.exception("reloading the certificate failed")

    if nginx is not None:
        try:
            await loop.run_in_executor(None, _apply_nginx, nginx, switch, backend, True)
        except NginxError as err:
            for sock in sockets:
                sock.close()
            raise FrontError(str(err)) from err
    unsubscribe = backend.subscribe_installed(installed)
    started = 0
    all_started = asyncio.Event()

    def one_started(_: str) -> None:
        nonlocal started
        started += 1
        if started == len(plans):
            all_started.set()

    ports = [sock.getsockname()[1] for sock in sockets]
    tasks = [
        asyncio.create_task(
            httpserver.serve(
                app,
                "",
                0,
                sock=sock,
                tls=context,
                stop=listeners_stop,
                on_ready=one_started,
                websockets=bool(options.upstream) and not behind_nginx,
                proxy_headers=behind_nginx,
            )
        )
        for sock, context, behind_nginx in plans
    ]

    async def watch() -> None:
        while True:
            await asyncio.sleep(options.watch_interval)
            now = _pair_signature(backend.pair_paths())
            if now != seen[0]:
                seen[0] = now
                refresh()
                # Changed behind the agent's back (a shell, a removal): let it look.
                await loop.run_in_executor(None, lambda: backend.request_check(force=True))

    watcher = asyncio.create_task(watch())
    try:
        ready = asyncio.create_task(all_started.wait())
        done, _ = await asyncio.wait([ready, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            failed = next(task for task in tasks if task.done())
            error = failed.exception()
            raise FrontError(f"the front's listeners did not start: {error}") from error
        if options.nginx is None:
            addresses = FrontAddresses(ports[0], ports[1] if len(ports) > 1 else None)
        else:
            addresses = FrontAddresses(options.https_port, options.http_port, ports[0])
        if on_ready is not None:
            on_ready(addresses)
        log.info("front serving: %s", addresses)
        await stop.wait()
    finally:
        unsubscribe()
        watcher.cancel()
        listeners_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if app.proxy is not None:
            await app.proxy.aclose()
        for sock in sockets:
            sock.close()


def _bind_all(options: FrontOptions) -> list[socket.socket]:
    """Built-in: [HTTPS, HTTP?]; nginx: [the agent's pages on loopback]."""
    if options.nginx is not None:
        return [bind("127.0.0.1", options.nginx.agent_port)]
    sockets = [bind(options.listen, options.https_port)]
    if options.http_port is not None:
        try:
            sockets.append(bind(options.listen, options.http_port))
        except FrontError:
            sockets[0].close()
            raise
    return sockets


def _nginx_front(options: FrontOptions, agent: socket.socket) -> NginxFront:
    assert options.nginx is not None
    site = NginxSite(
        site_file=options.nginx.site_file,
        pair_dir=options.nginx.pair_dir,
        agent_url=f"http://127.0.0.1:{agent.getsockname()[1]}",
        upstream=options.upstream,
        https_port=options.https_port,
        http_port=options.http_port,
        listen=(options.listen,) if options.listen else (),
    )
    return NginxFront(site, options.nginx.command)


def _apply_nginx(
    nginx: NginxFront, switch: CertificateSwitch, backend: FrontBackend, first: bool = False
) -> None:
    """Hand nginx the pair the built-in front would serve (the placeholder until a real one)."""
    if switch.served.placeholder:
        key_path, cert_path = placeholder_paths(switch.state_dir)
    else:
        key_path, cert_path = backend.pair_paths()
    try:
        nginx.apply_files(key_path, cert_path)
    except NginxError:
        if first:
            raise
        log.exception("nginx keeps its previous pair")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where installed (its TLS is in C: several times the handshakes and
    requests of asyncio's own), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@contextlib.contextmanager
def running(
    backend: FrontBackend,
    options: FrontOptions,
    *,
    clock: Clock = system_clock,
    announce_password: Callable[[str], None] = print_password,
    start_timeout: float = 30.0,
) -> Iterator[FrontAddresses]:
    """Run the front in a background thread with its own loop; yield its ports; stop on exit.
    For tests, the demo and embedding in a process that does other work."""
    loop = new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    found: list[FrontAddresses] = []
    failure: list[BaseException] = []

    def ready_with(addresses: FrontAddresses) -> None:
        found.append(addresses)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                run_front(
                    backend,
                    options,
                    stop=stop,
                    clock=clock,
                    on_ready=ready_with,
                    announce_password=announce_password,
                )
            )
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="box-front", daemon=True)
    thread.start()
    try:
        if not ready.wait(start_timeout) or failure or not found:
            if failure and isinstance(failure[0], FrontError):
                raise failure[0]
            raise FrontError(f"the front did not start: {failure[0] if failure else 'timeout'}")
        yield found[0]
    finally:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
        thread.join(start_timeout)
