"""The HTTP/1.1 protocol every server of ours speaks: uvicorn's, with per-connection deadlines
and one system call per response (see :mod:`boxcert.httpserver` for the limits and why).

The deadlines are enforced by subclasses of uvicorn's two HTTP/1.1 protocol classes (httptools
and h11) that watch the request cycle uvicorn keeps per connection (:class:`_Deadlines`). The
same subclasses hand uvicorn a transport that sends a response's head and body in one system
call (:class:`_CoalescingTransport`). :func:`protocol_class` makes the class for a server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["COALESCE_BYTES", "DEFAULT_TIMEOUTS", "Timeouts", "protocol_class"]

log = logging.getLogger("boxcert.httpserver")  # the servers' logger, where operators look


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-connection limits, in seconds (and bytes for the head)."""

    header: float = 10.0
    body: float = 30.0
    keep_alive: int = 5
    graceful_shutdown: float = 10.0
    max_head_bytes: int = 64 * 1024


DEFAULT_TIMEOUTS = Timeouts()
COALESCE_BYTES = 64 * 1024

# --- the per-connection deadlines ------------------------------------------------------------

_HEAD, _BODY, _APP = "head", "body", "app"


class _Deadlines:
    """Mixed in before a uvicorn protocol class: one timer per connection, re-armed as the
    request cycle moves from head to body to app and back to head.

    uvicorn's protocols keep the current request in ``self.cycle`` (None before the first
    head), whose ``more_body`` turns False once the body is complete and ``response_complete``
    True once the answer is sent; both implementations call ``on_response_complete``.
    """

    timeouts: Timeouts = DEFAULT_TIMEOUTS
    # Declared by the uvicorn protocol class this is mixed into.
    transport: asyncio.Transport
    cycle: Any
    client: tuple[str, int] | None
    loop: asyncio.AbstractEventLoop

    _timer: asyncio.TimerHandle | None = None
    _state: tuple[str, int] | None = None
    _head_bytes: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self.transport = _CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]
        self._follow()

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self._state is not None and self._state[0] == _HEAD
        super().data_received(data)  # type: ignore[misc]
        self._follow()
        if waiting_for_head and self._state is not None and self._state[0] == _HEAD:
            # Still no complete head after these bytes: count them against the head's limit.
            self._head_bytes += len(data)
            if self._head_bytes > self.timeouts.max_head_bytes:
                self._give_up(f"a request head over {self.timeouts.max_head_bytes} bytes")

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def _follow(self) -> None:
        if self.transport.is_closing():
            self._cancel()
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            state = (_HEAD, id(cycle))
        elif cycle.more_body:
            state = (_BODY, id(cycle))
        else:
            state = (_APP, id(cycle))
        if state == self._state:
            return  # still waiting for the same thing: the deadline does not move
        self._cancel()
        self._state = state
        if state[0] == _HEAD:
            self._head_bytes = 0
            limit = self.timeouts.header
            self._timer = self.loop.call_later(
                limit, self._give_up, f"no complete request head within {limit:g} s"
            )
        elif state[0] == _BODY:
            limit = self.timeouts.body
            self._timer = self.loop.call_later(
                limit, self._give_up, f"no complete request body within {limit:g} s"
            )

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _give_up(self, reason: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        who = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closing the connection from %s: %s", who, reason)
        self.transport.close()


class _CoalescingTransport:
    """The connection's transport, except that the writes made in one step of the event loop
    leave in one system call (and one TCP segment when they fit): uvicorn writes a response's
    head and its body separately, which cost a second ``send`` and a second wake-up of the
    client for every small answer (measured: about 7 µs of CPU a request of ~35). Order is
    kept; more than :data:`COALESCE_BYTES` pending are written at once."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size > COALESCE_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending, self._size = [], 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(timeouts: Timeouts, implementation: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (``httptools`` when installed, else ``h11``) with our
    deadlines. ``implementation`` forces one of the two (the tests run both)."""
    base: type[asyncio.Protocol]
    if implementation == "h11":
        base = H11Protocol
    else:
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            if implementation == "httptools":
                raise
            base = H11Protocol
        else:
            base = HttpToolsProtocol
    return type(f"Deadline{base.__name__}", (_Deadlines, base), {"timeouts": timeouts})
