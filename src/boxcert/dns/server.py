"""The transport: asyncio UDP and TCP around :func:`boxcert.dns.answer.answer`.

A query whose exact bytes (after the ID) were answered less than a second ago gets the stored
response with its own ID (:mod:`boxcert.dns.cache`): no parsing, no rendering. Otherwise: parse →
answer → encode. The transport drops what cannot be a query (shorter than a header, or a
response), answers FORMERR when the header parses but the rest does not, SERVFAIL when the answer
or the data raises, and truncates UDP answers to the client's payload size (512 without EDNS, at
most :data:`EDNS_PAYLOAD`) with TC set, so the client asks again over TCP.

TXT values come from a snapshot of the issuer's ``txt_records`` table
(:mod:`boxcert.dns.zonedata`), read at most once a second whatever the queries ask. A TXT
question that finds the snapshot stale waits for the one read in a worker thread, shared by every
question waiting; every other query is answered at once on the event loop, and the database is
never read per query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rcode

from boxcert.dns.answer import EDNS_PAYLOAD, ZoneConfig, answer, encode, txt_name
from boxcert.dns.cache import RESPONSE_CACHE_SECONDS, RESPONSE_CACHE_SIZE, ResponseCache, cacheable
from boxcert.dns.tcp import serve_connection
from boxcert.dns.udp import HEADER_SIZE, UdpEndpoint, bind_udp
from boxcert.dns.zonedata import (
    REFRESH_SECONDS,
    NoTxtData,
    Snapshot,
    SqlZoneData,
    TxtSnapshots,
    TxtSource,
)

__all__ = ["REFRESH_SECONDS", "DnsServer", "SqlZoneData", "TxtSource", "serve"]

log = logging.getLogger(__name__)

TCP_MAX = 65535
TCP_IDLE_TIMEOUT = 10.0
MAX_TCP_CLIENTS = 256
MAX_PENDING_UDP = 1024  # UDP queries waiting for the database; beyond this they are dropped
_NO_TXT = Snapshot()  # for queries that read no TXT value


@dataclass(frozen=True, slots=True)
class _Pending:
    """A TXT question that waits for a fresh snapshot."""

    query: dns.message.Message
    wire: bytes
    max_size: int
    cache: ResponseCache


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
    """Serves one zone on one address over UDP and TCP (the same port for both).

    ``data`` gives the TXT snapshots (read at most every ``refresh_seconds``). ``monotonic`` is
    the clock of both the snapshots' freshness and the response cache (tests pass a fake one).
    """

    def __init__(
        self,
        zone: ZoneConfig,
        data: TxtSource,
        host: str = "127.0.0.1",
        port: int = 5353,
        *,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        max_tcp_clients: int = MAX_TCP_CLIENTS,
        refresh_seconds: float = REFRESH_SECONDS,
        response_cache_size: int = RESPONSE_CACHE_SIZE,
        response_cache_seconds: float = RESPONSE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.zone = zone
        self.host = host
        self.port = port
        self.txt = TxtSnapshots(data, refresh_seconds, monotonic)
        self._idle = tcp_idle_timeout
        self._max_tcp = max_tcp_clients
        # Separate caches: the same query bytes get a truncated answer over UDP only.
        self.udp_cache = ResponseCache(response_cache_size, response_cache_seconds, monotonic)
        self.tcp_cache = ResponseCache(response_cache_size, response_cache_seconds, monotonic)
        self._udp: UdpEndpoint | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_clients: set[asyncio.Task[None]] = set()
        self._last_error_log = -1e9

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Bind UDP and TCP; returns the bound (host, port), useful with port 0."""
        for _attempt in range(20):
            udp = await bind_udp(self.host, self.port, self.udp_cache.get, self._on_udp_miss)
            try:
                self._tcp = await asyncio.start_server(self._on_tcp, self.host, udp.port)
            except OSError:
                udp.close()
                if self.port != 0:
                    raise
                continue  # the TCP side of a random UDP port was taken: pick another
            self._udp, self.port = udp, udp.port
            break
        else:
            raise OSError(f"no port free for both UDP and TCP on {self.host}")
        log.info(
            "DNS server for %s listening on %s port %d (udp+tcp)",
            self.zone.zone,
            self.host,
            self.port,
        )
        self.txt.reload()  # the first snapshot, so the first TXT question need not wait
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
        await self.txt.close()
        udp, tcp = self.udp_cache, self.tcp_cache
        log.info(
            "DNS server closed; response cache hits/misses: UDP %d/%d, TCP %d/%d",
            *(udp.hits, udp.misses, tcp.hits, tcp.misses),
        )

    # --- one message --------------------------------------------------------------------------

    def _begin(self, wire: bytes, cache: ResponseCache) -> bytes | _Pending | None:
        """The reply bytes, None to drop, or a query that waits for a fresh snapshot."""
        if len(wire) >= HEADER_SIZE:
            body = cache.get(wire[2:])
            if body is not None:
                return wire[:2] + body
        return self._parse(wire, cache)

    def _parse(self, wire: bytes, cache: ResponseCache) -> bytes | _Pending | None:
        """``_begin`` after a cache miss."""
        if len(wire) < HEADER_SIZE:
            return None
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return _header_reply(wire, dns.rcode.FORMERR)  # never cached: not an answer
        if query.flags & dns.flags.QR:
            return None
        max_size = _udp_limit(query) if cache is self.udp_cache else TCP_MAX
        try:
            snapshot = _NO_TXT if txt_name(query, self.zone) is None else self.txt.current()
        except NoTxtData:
            return self._servfail(query, wire, max_size)  # the snapshots log why
        except Exception:
            self._log_error("cannot classify a query")
            return self._servfail(query, wire, max_size)
        if snapshot is None:
            return _Pending(query, wire, max_size, cache)
        return self._finish(query, wire, snapshot, max_size, cache)

    async def _complete(self, pending: _Pending) -> bytes | None:
        query, wire = pending.query, pending.wire
        try:
            snapshot = await self.txt.fresh()
        except NoTxtData:
            return self._servfail(query, wire, pending.max_size)
        return self._finish(query, wire, snapshot, pending.max_size, pending.cache)

    def _finish(
        self,
        query: dns.message.Message,
        wire: bytes,
        snapshot: Snapshot,
        max_size: int,
        cache: ResponseCache,
    ) -> bytes | None:
        try:
            response = answer(query, self.zone, snapshot)
            reply = encode(response, max_size)
        except Exception:
            self._log_error("cannot answer a query")
            return self._servfail(query, wire, max_size)
        if cacheable(query, response):
            # An answer from TXT values goes stale with them (stale snapshots: not kept at all).
            cache.put(wire[2:], reply[2:], snapshot.fresh_until)
        return reply

    def _servfail(self, query: dns.message.Message, wire: bytes, max_size: int) -> bytes | None:
        try:
            response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
            response.set_rcode(dns.rcode.SERVFAIL)
            return encode(response, max_size)
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

    # --- UDP (cache hits never get here: the endpoint answers them itself) --------------------

    def _on_udp_miss(self, wire: bytes, addr: tuple[str, int], send: UdpEndpoint) -> None:
        result = self._parse(wire, self.udp_cache)
        if isinstance(result, bytes):
            send.sendto(result, addr)
        elif isinstance(result, _Pending) and len(self._tasks) < MAX_PENDING_UDP:
            task = asyncio.get_running_loop().create_task(self._reply_later(result, addr, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reply_later(
        self, pending: _Pending, addr: tuple[str, int], send: UdpEndpoint
    ) -> None:
        reply = await self._complete(pending)
        if reply is not None:
            send.sendto(reply, addr)

    # --- TCP ---------------------------------------------------------------------------------

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._tcp_clients) >= self._max_tcp:
            writer.close()
            return
        self._tcp_clients.add(task)
        try:
            await serve_connection(reader, writer, self._answer_tcp, self._idle)
        finally:
            self._tcp_clients.discard(task)

    async def _answer_tcp(self, wire: bytes) -> bytes | None:
        result = self._begin(wire, self.tcp_cache)
        return await self._complete(result) if isinstance(result, _Pending) else result


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
