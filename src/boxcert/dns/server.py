"""The transport: asyncio UDP and TCP around :func:`boxcert.dns.answer.answer`.

Parse → answer → encode. The transport drops what cannot be a query (shorter than a header, or
a response), answers FORMERR when the header parses but the rest does not, SERVFAIL when the
answer or the data raises, and truncates UDP answers to the client's payload size (512 without
EDNS, at most :data:`EDNS_PAYLOAD`) with TC set, so the client asks again over TCP.

TXT values come from the issuer's database. Reading it blocks, so a query that needs a value
not in the short cache (:class:`SqlZoneData`, one second) is answered after a read in a thread;
every other query is answered at once on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, cast

import dns.flags
import dns.message
import dns.rcode
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.dns.answer import EDNS_PAYLOAD, ZoneConfig, ZoneData, answer, txt_name
from boxcert.issuer import store

log = logging.getLogger(__name__)

HEADER_SIZE = 12
TCP_MAX = 65535
TCP_IDLE_TIMEOUT = 10.0
MAX_TCP_CLIENTS = 256
MAX_PENDING_UDP = 1024  # UDP queries waiting for the database; beyond this they are dropped
CACHE_SECONDS = 1.0
_CACHE_MAX = 10000


class CachedZoneData(ZoneData, Protocol):
    """ZoneData that can also answer from memory without blocking."""

    def cached_txt_values(self, name: str) -> list[str] | None:
        """The values if known fresh, else None (then ``txt_values`` must be called)."""


class SqlZoneData:
    """TXT values from the issuer's database, cached for at most ``cache_seconds``.

    Every DNS server reading one issuer database sees a value the issuer publishes within
    ``cache_seconds`` (plus the read). Thread-safe.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock = system_clock,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def cached_txt_values(self, name: str) -> list[str] | None:
        with self._lock:
            entry = self._cache.get(name)
        if entry is None or entry[0] <= self._monotonic():
            return None
        return list(entry[1])

    def txt_values(self, name: str) -> list[str]:
        cached = self.cached_txt_values(name)
        if cached is not None:
            return cached
        with self._sessions() as session:
            values = store.txt_values(session, name, self._clock())
        now = self._monotonic()
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
            self._cache[name] = (now + self._cache_seconds, values)
        return list(values)


@dataclass(frozen=True, slots=True)
class _Known:
    """The one name's values, fetched before answering; any other name is a bug."""

    name: str | None
    values: list[str]

    def txt_values(self, name: str) -> list[str]:
        if name != self.name:
            raise LookupError(f"TXT values for {name!r} were not fetched")
        return self.values


@dataclass(frozen=True, slots=True)
class _Pending:
    query: dns.message.Message
    wire: bytes
    name: str
    max_size: int


def _header_reply(wire: bytes, rcode: int) -> bytes | None:
    """A bare reply from the query's header (id, opcode, RD); None when it is a response."""
    flags = int.from_bytes(wire[2:4], "big")
    if flags & dns.flags.QR:
        return None
    flags = dns.flags.QR | (flags & 0x7800) | (flags & dns.flags.RD) | rcode
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)


def _udp_limit(query: dns.message.Message) -> int:
    if query.edns < 0:
        return 512
    return max(512, min(query.payload, EDNS_PAYLOAD))


class DnsServer:
    """Serves one zone on one address over UDP and TCP (the same port for both)."""

    def __init__(
        self,
        zone: ZoneConfig,
        data: CachedZoneData,
        host: str = "127.0.0.1",
        port: int = 5353,
        *,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        max_tcp_clients: int = MAX_TCP_CLIENTS,
        db_threads: int = 4,
    ) -> None:
        self.zone = zone
        self.host = host
        self.port = port
        self._data = data
        self._idle = tcp_idle_timeout
        self._max_tcp = max_tcp_clients
        self._executor = ThreadPoolExecutor(db_threads, thread_name_prefix="dns-db")
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_clients: set[asyncio.Task[None]] = set()
        self._last_error_log = -1e9

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Bind UDP and TCP; returns the bound (host, port), useful with port 0."""
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
            )
            port = int(udp.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._on_tcp, self.host, port)
            except OSError:
                udp.close()
                if self.port != 0:
                    raise
                continue  # the TCP side of a random UDP port was taken: pick another
            self._udp, self.port = udp, port
            break
        else:
            raise OSError(f"no port free for both UDP and TCP on {self.host}")
        log.info(
            "DNS server for %s listening on %s port %d (udp+tcp)",
            self.zone.zone,
            self.host,
            self.port,
        )
        return self.host, self.port

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in [*self._tasks, *self._tcp_clients]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._tcp_clients, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- one message --------------------------------------------------------------------------

    def _begin(self, wire: bytes, udp: bool) -> bytes | _Pending | None:
        """The reply bytes, None to drop, or a query that needs a database read first."""
        if len(wire) < HEADER_SIZE:
            return None
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return _header_reply(wire, dns.rcode.FORMERR)
        if query.flags & dns.flags.QR:
            return None
        max_size = _udp_limit(query) if udp else TCP_MAX
        try:
            name = txt_name(query, self.zone)
            values = None if name is None else self._data.cached_txt_values(name)
        except Exception:
            self._log_error("cannot classify a query")
            return self._servfail(query, wire, max_size)
        if name is not None and values is None:
            return _Pending(query, wire, name, max_size)
        return self._finish(query, wire, _Known(name, values or []), max_size)

    async def _complete(self, pending: _Pending) -> bytes | None:
        loop = asyncio.get_running_loop()
        query, wire = pending.query, pending.wire
        try:
            values = await loop.run_in_executor(self._executor, self._data.txt_values, pending.name)
        except Exception:
            self._log_error("cannot read TXT values")
            return self._servfail(query, wire, pending.max_size)
        return self._finish(query, wire, _Known(pending.name, values), pending.max_size)

    def _finish(
        self, query: dns.message.Message, wire: bytes, data: ZoneData, max_size: int
    ) -> bytes | None:
        try:
            response = answer(query, self.zone, data)
            return response.to_wire(max_size=max_size, prefer_truncation=True)
        except Exception:
            self._log_error("cannot answer a query")
            return self._servfail(query, wire, max_size)

    def _servfail(self, query: dns.message.Message, wire: bytes, max_size: int) -> bytes | None:
        try:
            response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire(max_size=max_size, prefer_truncation=True)
        except Exception:
            return _header_reply(wire, dns.rcode.SERVFAIL)

    def _log_error(self, what: str) -> None:
        """Log the failure with its traceback, at most once a minute (floods stay quiet)."""
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            log.exception("%s; answering SERVFAIL (further failures logged at debug)", what)
        else:
            log.debug("%s", what, exc_info=True)

    # --- UDP ----------------------------------------------------------------------------------

    def _on_datagram(
        self, wire: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport
    ) -> None:
        result = self._begin(wire, udp=True)
        if isinstance(result, bytes):
            transport.sendto(result, addr)
        elif isinstance(result, _Pending) and len(self._tasks) < MAX_PENDING_UDP:
            task = asyncio.get_running_loop().create_task(
                self._reply_later(result, addr, transport)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reply_later(
        self, pending: _Pending, addr: tuple[str, int], transport: asyncio.DatagramTransport
    ) -> None:
        reply = await self._complete(pending)
        if reply is not None and not transport.is_closing():
            transport.sendto(reply, addr)

    # --- TCP (RFC 7766: length-prefixed, several queries per connection) -----------------------

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._tcp_clients) >= self._max_tcp:
            writer.close()
            return
        self._tcp_clients.add(task)
        try:
            while True:
                size = int.from_bytes(
                    await asyncio.wait_for(reader.readexactly(2), self._idle), "big"
                )
                wire = await asyncio.wait_for(reader.readexactly(size), self._idle)
                result = self._begin(wire, udp=False)
                if isinstance(result, _Pending):
                    result = await self._complete(result)
                if result is not None:
                    writer.write(len(result).to_bytes(2, "big") + result)
                    await asyncio.wait_for(writer.drain(), self._idle)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # idle, closed by the client, or reset
        finally:
            self._tcp_clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            try:
                self._server._on_datagram(data, addr, self._transport)
            except Exception:  # never let one datagram stop the endpoint
                log.debug("datagram from %s dropped", addr, exc_info=True)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


async def serve(
    server: DnsServer, stop: asyncio.Event, on_ready: Callable[[str, int], None] | None = None
) -> None:
    """Start ``server``, call ``on_ready(host, port)``, serve until ``stop`` is set, close."""
    host, port = await server.start()
    try:
        if on_ready is not None:
            on_ready(host, port)
        await stop.wait()
    finally:
        await server.close()
