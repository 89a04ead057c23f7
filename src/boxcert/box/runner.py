"""``boxcert box run``: the box as one process — the agent, its reports, its front.

Threads and loops:

- the main thread runs one asyncio loop (uvloop where installed): the front (HTTPS and plain
  HTTP through :func:`boxcert.box.front.server.run_front`, or the agent's pages behind nginx),
  and the SIGINT/SIGTERM handlers, which set one ``stop``;
- the agent's loop (:meth:`boxcert.box.agent.BoxAgent.run`) in a thread of its own: checks,
  loads and installs; the front hears of each install through the agent's events;
- the reporter (:class:`boxcert.box.reporter.Reporter`) in another thread, woken by the
  agent's status events, so a slow hub never delays the certificate work.

The listeners are bound first: a port in use or a port below 1024 without the privilege is a
:class:`RunError` with one line, before any thread starts. The agent's URL follows the port
the front really serves (``--https-port 0`` picks a free one). On ``stop`` the front closes
its listeners (requests in flight finish), then both threads are told to stop and joined; a
check still waiting for the issuer ends with the process (every file it writes is replaced
atomically).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from boxcert.box.agent import BoxAgent
from boxcert.box.config import load_config, update_config
from boxcert.box.errors import BoxError
from boxcert.box.files import BoxPaths
from boxcert.box.front.backend import AgentBackend
from boxcert.box.front.server import (
    FrontAddresses,
    FrontError,
    FrontOptions,
    NginxOptions,
    new_event_loop,
    print_password,
    run_front,
)
from boxcert.box.reporter import Reporter

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 10.0  # seconds the threads get to finish at stop (a hang guard)


class RunError(BoxError):
    """The box cannot run as asked (a port in use, no permission, a bad upstream)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    front: str = "builtin"  # "builtin", "nginx" or "none"
    https_port: int = 443
    http_port: int | None = 80  # None: no plain-HTTP listener
    listen: str = ""  # empty: every address
    upstream: str | None = None
    nginx: NginxOptions | None = None  # with front="nginx"


def _shown(listen: str, port: int | None, scheme: str) -> str:
    host = listen or "*"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def ready_line(options: RunOptions, addresses: FrontAddresses | None) -> str:
    """What ``box run`` prints once it serves (tests and the demo read the ports from it)."""
    if addresses is None:
        return "box: running without a front (the agent and its reports only)"
    if options.front == "nginx":
        return (
            f"box: nginx serves https port {addresses.https_port}; the box's pages listen on "
            f"http://127.0.0.1:{addresses.agent_port}"
        )
    line = f"box: listening on {_shown(options.listen, addresses.https_port, 'https')}"
    if addresses.http_port is not None:
        line += f" and {_shown(options.listen, addresses.http_port, 'http')}"
    return line


class BoxRunner:
    def __init__(
        self,
        paths: BoxPaths,
        options: RunOptions,
        *,
        announce: Callable[[str], None] = print_password,
        say: Callable[[str], None] = print,
    ) -> None:
        self.paths = paths
        self.options = options
        self.announce = announce
        self.say = say
        self.agent = BoxAgent(paths)
        self.reporter = Reporter(paths, self.agent.holder)
        self._stop_threads = threading.Event()
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM; RunError when it cannot start."""
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._main())
        finally:
            self._stop()
            loop.close()

    async def _main(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        if self.options.front == "none":
            self._start(None)
            await stop.wait()
            return
        front_options = FrontOptions(
            state_dir=self.paths.front_dir,
            https_port=self.options.https_port,
            http_port=self.options.http_port,
            listen=self.options.listen,
            upstream=self.options.upstream,
            nginx=self.options.nginx if self.options.front == "nginx" else None,
        )
        backend = AgentBackend(self.agent)
        try:
            await run_front(
                backend,
                front_options,
                stop=stop,
                on_ready=self._start,
                announce_password=self.announce,
            )
        except FrontError as err:
            raise RunError(str(err)) from err

    def _start(self, addresses: FrontAddresses | None) -> None:
        if addresses is not None:
            self._follow_port(addresses.https_port)
        for name, target in (("box-agent", self.agent.run), ("box-reporter", self.reporter.run)):
            thread = threading.Thread(
                target=target, args=(self._stop_threads,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self.say(ready_line(self.options, addresses))

    def _follow_port(self, port: int) -> None:
        """The box's URL names the port it is served on."""
        try:
            if load_config(self.paths).https_port != port:
                update_config(self.paths, https_port=port)
                log.info("the box's URL now uses port %d", port)
        except BoxError as err:
            log.warning("cannot record the HTTPS port %d in the settings: %s", port, err)

    def _stop(self) -> None:
        self._stop_threads.set()
        self.agent.wake()
        self.reporter.wake()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("%s is still busy; it ends with the process", thread.name)
