"""One line per request (the access log) and its latency, around a whole ASGI site.

Shared by the issuer and the hub; each gives its own ``observe`` (the latency histogram of its
metrics) and ``known`` (whether a path is one of its routes, shown as it is). The line, in the
format of the service's other log lines (``--log-format text`` or ``json``), from the
``boxcert.access`` logger at INFO::

    2026-11-27 01:53:27,721 INFO boxcert.access: 127.0.0.1 "POST /iot/x509" 200 1834 0.6ms granted

client address, method and path, status, bytes of the answer's body, time to the answer, and
the request's outcome when the app left one in the scope under :data:`OUTCOME` (``granted``,
``refused:<code>``, ``paired`` …). Never a query string, a header or a body: contract codes,
pairing tokens, passwords and CSRF tokens travel in bodies, bearer tokens, box secrets and
session cookies in headers, and none of them is written here. A path that is not a known route
is made printable and cut short.

Why not through :mod:`logging`: at ten thousand requests a second a log record, its
formatting and a write per line cost about 12 µs a request, a third of the issuer's hot path.
:class:`AccessLogWriter` makes the same line with the time formatted once a second and writes
the lines in batches, at most :data:`FLUSH_EVERY` after they were made (as nginx's
``access_log … buffer= flush=``), about 1.5 µs a request. The latency is observed either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxcert.wire.text import printable

__all__ = ["OUTCOME", "AccessLog", "AccessLogWriter", "status_class"]

LOGGER = "boxcert.access"
OUTCOME = "boxcert.outcome"  # scope key: what became of a request, for the line's end
MAX_PATH_CHARS = 200
FLUSH_EVERY = 0.5
MAX_BATCH = 512

Observe = Callable[[str, int, float], None]  # (path, status, seconds)


def status_class(status: int) -> str:
    """The ``status`` label of a latency histogram: ``2xx`` … ``5xx``, else ``other``."""
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


class AccessLogWriter:
    """Access-log lines in ``fmt`` (``text`` or ``json``, as :mod:`boxcert.logsetup`), written
    to ``stream`` in batches by a daemon thread; :meth:`close` writes what is left."""

    def __init__(
        self,
        stream: TextIO,
        fmt: str = "text",
        *,
        flush_every: float = FLUSH_EVERY,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.stream = stream
        self.json = fmt == "json"
        self.flush_every = flush_every
        self.max_batch = max_batch
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._second = -1
        self._prefix = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def write(self, message: str) -> None:
        now = time.time()
        if self.json:
            stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
            entry = {"time": stamp, "level": "info", "logger": LOGGER, "message": message}
            line = orjson.dumps(entry).decode()
        else:
            second = int(now)
            if second != self._second:  # strftime once a second, as logging's asctime
                self._second = second
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            line = f"{self._prefix},{int((now - second) * 1000):03d} INFO {LOGGER}: {message}"
        self._lines.append(line)
        if len(self._lines) >= self.max_batch:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass  # a closed or broken stream must not fail requests

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.flush_every * 4)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            self.flush()


class AccessLog:
    """ASGI middleware: see the module docstring. ``writer`` None: latency only. ``known``:
    whether a path is one of the site's routes (shown as is; others are made printable)."""

    def __init__(
        self,
        app: ASGIApp,
        observe: Observe,
        writer: AccessLogWriter | None,
        known: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.observe = observe
        self.writer = writer
        self.known = known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = [500, 0]  # status, body bytes (500 if the app raised before answering)

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0] = message["status"]
            elif message["type"] == "http.response.body":
                answer[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            path: str = scope["path"]
            self.observe(path, answer[0], elapsed)
            if self.writer is not None:
                client = scope.get("client")
                shown = path if self.known(path) else printable(path, MAX_PATH_CHARS)
                outcome = scope.get(OUTCOME)
                self.writer.write(
                    f'{client[0] if client else "-"} "{scope["method"]} {shown}" {answer[0]} '
                    f"{answer[1]} {elapsed * 1000:.1f}ms{' ' + outcome if outcome else ''}"
                )
