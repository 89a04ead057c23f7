"""The transport: asyncio UDP and TCP around :func:`boxcert.dns.answer.answer`.

Each received message goes, in order, through:

1. the response cache (:mod:`boxcert.dns.cache`): a query with the same bytes, up to the letter
   case of its name, answered less than a second ago gets that response under its own ID;
2. the fast path (:mod:`boxcert.dns.fast`): a plain A, AAAA or TXT question (one question, at
   most a bare OPT: it reads no further than that) is answered from its bytes, the same bytes
   the reference below gives;
3. the screen (:mod:`boxcert.dns.screen`): anything but one question with at most a small OPT is
   dropped or answered FORMERR/NOTIMP from its header, before any parse;
4. the reference: parse with dnspython → :func:`~boxcert.dns.answer.answer` →
   :func:`~boxcert.dns.answer.encode`. FORMERR when the packet does not parse, SERVFAIL when the
   answer or the data raises, and UDP answers truncated to the client's payload size (512
   without EDNS, at most :data:`EDNS_PAYLOAD`) with TC set, so the client asks again over TCP.

TCP connections are bounded in all and per client (:mod:`boxcert.dns.tcpslots`). With
``reuse_port`` several processes serve one port (SO_REUSEPORT; the kernel spreads clients
across them), each with its own caches and snapshots.

Every query is counted once, where it ends (:mod:`boxcert.dns.counters`): answered by the
cache, the fast path, the screen or the reference, or dropped; into ``counts``, a row of plain
integers, so counting costs the hot path one addition.

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

from boxcert.dns import counters
from boxcert.dns.answer import EDNS_PAYLOAD, ZoneConfig, answer, encode, txt_name
from boxcert.dns.cache import RESPONSE_CACHE_SECONDS, RESPONSE_CACHE_SIZE, ResponseCache, cacheable
from boxcert.dns.counters import AnsweredBy, CountRow, Drop, Transport
from boxcert.dns.fast import TCP_MAX, WAIT_FOR_TXT, FastAnswers, Wait
from boxcert.dns.screen import Verdict, screen
from boxcert.dns.tcp import serve_connection
from boxcert.dns.tcpslots import MAX_TCP_CLIENTS, MAX_TCP_PER_CLIENT, TcpSlots, client_key
from boxcert.dns.udp import UdpEndpoint, bind_udp
from boxcert.dns.zonedata import (
    MAX_WAIT,
    REFRESH_SECONDS,
    NoTxtData,
    Snapshot,
    SqlZoneData,
    TxtSnapshots,
    TxtSource,
)

__all__ = ["REFRESH_SECONDS", "DnsServer", "SqlZoneData", "TxtSource", "serve"]

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 10.0
MAX_PENDING_UDP = 1024  # UDP queries waiting for the database; beyond this they are dropped
_NO_TXT = Snapshot()  # for queries that read no TXT value
_SCREEN_RCODE = {Verdict.FORMERR: dns.rcode.FORMERR, Verdict.NOTIMP: dns.rcode.NOTIMP}
Parser = Callable[[bytes], dns.message.Message]
_QTYPE_OFFSET, _OTHER = counters.QTYPE_OFFSET, counters.QTYPE_OTHER_OFFSET
_RCODE = counters.RCODE_OF_HEADER


@dataclass(frozen=True, slots=True)
class _Pending:
    """A TXT question that waits for a fresh snapshot."""

    wire: bytes
    udp: bool


def _header_reply(wire: bytes, rcode: int) -> bytes:
    """A bare reply from the query's header (id, opcode, RD)."""
    flags = int.from_bytes(wire[2:4], "big")
    flags = dns.flags.QR | (flags & 0x7800) | (flags & dns.flags.RD) | rcode
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)


def _udp_limit(query: dns.message.Message) -> int:
    if query.edns < 0:
        return 512
    return max(512, min(query.payload, EDNS_PAYLOAD))


class DnsServer:
    """Serves one zone on one address over UDP and TCP (the same port for both).

    ``data`` gives the TXT snapshots (read at most every ``refresh_seconds``; a question waits
    at most ``txt_max_wait`` for a read). ``monotonic`` is
    the clock of both the snapshots' freshness and the response cache (tests pass a fake one).
    ``parse`` is the reference parser (tests count its calls); ``fast_path`` off sends every
    query that passes the screen to it. ``reuse_port`` lets other processes bind the same port.
    ``counts``: the :mod:`.counters` row this server counts in (its own when not given).
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
        max_tcp_per_client: int = MAX_TCP_PER_CLIENT,
        refresh_seconds: float = REFRESH_SECONDS,
        txt_max_wait: float = MAX_WAIT,
        response_cache_size: int = RESPONSE_CACHE_SIZE,
        response_cache_seconds: float = RESPONSE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        parse: Parser = dns.message.from_wire,
        fast_path: bool = True,
        reuse_port: bool = False,
        counts: CountRow | None = None,
    ) -> None:
        self.zone = zone
        self.counts: CountRow = counts if counts is not None else [0] * counters.ROW
        self._fast_base = (
            counters.base(Transport.TCP, AnsweredBy.FAST),
            counters.base(Transport.UDP, AnsweredBy.FAST),
        )
        self.host = host
        self.port = port
        self.txt = TxtSnapshots(data, refresh_seconds, monotonic, txt_max_wait)
        self._idle = tcp_idle_timeout
        self.tcp_slots = TcpSlots(max_tcp_clients, max_tcp_per_client)
        self._parse_message = parse
        self._fast = FastAnswers(zone) if fast_path else None
        self._reuse_port = reuse_port
        # Separate caches: the same query bytes get a truncated answer over UDP only.
        self.udp_cache = ResponseCache(
            response_cache_size, response_cache_seconds, monotonic, self.counts, Transport.UDP
        )
        self.tcp_cache = ResponseCache(
            response_cache_size, response_cache_seconds, monotonic, self.counts, Transport.TCP
        )
        self._udp: UdpEndpoint | None = None
        self._tcp: asyncio.Server | None = None
        self._waiting: list[tuple[_Pending, tuple[str, int], UdpEndpoint]] = []
        self._waiter: asyncio.Task[None] | None = None
        self._tcp_clients: set[asyncio.Task[None]] = set()
        self._last_error_log = -1e9

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Bind UDP and TCP; returns the bound (host, port), useful with port 0."""
        for _attempt in range(20):
            udp = await bind_udp(
                self.host,
                self.port,
                self.udp_cache.lookup,
                self._on_udp_miss,
                self._reuse_port,
                self.counts,
            )
            try:
                self._tcp = await asyncio.start_server(
                    self._on_tcp, self.host, udp.port, reuse_port=self._reuse_port or None
                )
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
        tasks = [*self._tcp_clients, *([self._waiter] if self._waiter is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        await self.txt.close()
        udp, tcp = self.udp_cache, self.tcp_cache
        log.info(
            "DNS server closed; response cache hits/misses: UDP %d/%d, TCP %d/%d",
            *(udp.hits, udp.misses, tcp.hits, tcp.misses),
        )

    # --- one message --------------------------------------------------------------------------

    def _begin(self, wire: bytes, udp: bool) -> bytes | _Pending | None:
        """The reply bytes, None to drop, or a query that waits for a fresh snapshot."""
        cache = self.udp_cache if udp else self.tcp_cache
        reply = cache.lookup(wire)
        return reply if reply is not None else self._miss(wire, udp)

    def _miss(self, wire: bytes, udp: bool) -> bytes | _Pending | None:
        """``_begin`` after a cache miss: fast path, screen, reference."""
        reply = self._fast_reply(wire, udp, self._snapshot_now)
        if isinstance(reply, bytes):
            return reply
        if reply is WAIT_FOR_TXT:
            try:
                if self.txt.current() is None:
                    return _Pending(wire, udp)  # a read is due: wait for it
            except NoTxtData:
                pass  # never read: the reference answers SERVFAIL
        verdict = screen(wire)
        if verdict is not Verdict.ANSWER:
            rcode = _SCREEN_RCODE.get(verdict)
            if rcode is None:
                self.counts[counters.drop_slot(Drop.GARBAGE)] += 1
                return None
            self._count(udp, AnsweredBy.SCREEN, counters.QTYPE_OTHER, rcode)
            return _header_reply(wire, rcode)
        return self._reference(wire, udp, None, waited=False)

    def _count(self, udp: bool, by: AnsweredBy, qtype: int, rcode: int) -> None:
        """One answer made by ``by`` (not the fast path's: it counts inline)."""
        transport = Transport.UDP if udp else Transport.TCP
        self.counts[counters.answer_slot(transport, by, qtype, counters.rcode_of(rcode))] += 1

    @staticmethod
    def _qtype(query: dns.message.Message) -> int:
        if not query.question:
            return counters.QTYPE_OTHER
        return counters.qtype_of_rdtype(query.question[0].rdtype)

    def _fast_reply(
        self, wire: bytes, udp: bool, txt: Callable[[], Snapshot | None]
    ) -> bytes | Wait | None:
        """The fast path's reply (kept in the cache), or None: the reference must answer."""
        if self._fast is None:
            return None
        try:
            fast = self._fast.reply(wire, udp, txt)
        except Exception:
            self._log_error("the fast path failed on a query")
            return None  # the reference answers it
        if fast is None or fast is WAIT_FOR_TXT:
            return fast
        reply, keep_until, name_end = fast
        offset = _QTYPE_OFFSET.get(wire[name_end : name_end + 2], _OTHER) + _RCODE[reply[3] & 15]
        cache = self.udp_cache if udp else self.tcp_cache
        cache.store(wire, reply, keep_until, name_end, offset)
        self.counts[self._fast_base[udp] + offset] += 1
        return reply

    def _snapshot_now(self) -> Snapshot | None:
        """The snapshot to answer from now (the last one while reads fail: its answers are not
        kept); None sends the question to the reference path, which waits or fails."""
        try:
            return self.txt.current()
        except NoTxtData:
            return None

    def _reference(
        self, wire: bytes, udp: bool, snapshot: Snapshot | None, *, waited: bool
    ) -> bytes | _Pending | None:
        """Parse with dnspython, answer, encode. ``snapshot``: the one a wait gave (None: look
        it up now; after a wait, none means no data: SERVFAIL)."""
        try:
            query = self._parse_message(wire)
        except Exception:
            self._count(udp, AnsweredBy.FULL, counters.QTYPE_OTHER, dns.rcode.FORMERR)
            return _header_reply(wire, dns.rcode.FORMERR)  # never cached: not an answer
        max_size = _udp_limit(query) if udp else TCP_MAX
        if snapshot is None:
            try:
                snapshot = _NO_TXT if txt_name(query, self.zone) is None else self.txt.current()
            except NoTxtData:
                return self._servfail(query, wire, max_size, udp)  # the snapshots log why
            except Exception:
                self._log_error("cannot classify a query")
                return self._servfail(query, wire, max_size, udp)
            if snapshot is None:
                if waited:
                    return self._servfail(query, wire, max_size, udp)
                return _Pending(wire, udp)
        return self._finish(query, wire, snapshot, max_size, udp)

    async def _wait_fresh(self) -> Snapshot | None:
        """A fresh snapshot after one read (shared), the last one, or None: there is none."""
        try:
            return await self.txt.fresh()
        except NoTxtData:
            return None

    def _after_wait(self, pending: _Pending, snapshot: Snapshot | None) -> bytes | None:
        """The reply to a question that waited for ``snapshot``."""
        wire, udp = pending.wire, pending.udp
        reply = None if snapshot is None else self._fast_reply(wire, udp, lambda: snapshot)
        if isinstance(reply, bytes):
            return reply
        result = self._reference(wire, udp, snapshot, waited=True)
        return None if isinstance(result, _Pending) else result

    def _finish(
        self,
        query: dns.message.Message,
        wire: bytes,
        snapshot: Snapshot,
        max_size: int,
        udp: bool,
    ) -> bytes | None:
        try:
            response = answer(query, self.zone, snapshot)
            reply = encode(response, max_size)
        except Exception:
            self._log_error("cannot answer a query")
            return self._servfail(query, wire, max_size, udp)
        self._count(udp, AnsweredBy.FULL, self._qtype(query), response.rcode())
        if cacheable(query, response):
            # An answer from TXT values goes stale with them (stale snapshots: not kept at all).
            (self.udp_cache if udp else self.tcp_cache).store(wire, reply, snapshot.fresh_until)
        return reply

    def _servfail(
        self, query: dns.message.Message, wire: bytes, max_size: int, udp: bool
    ) -> bytes | None:
        self._count(udp, AnsweredBy.FULL, self._qtype(query), dns.rcode.SERVFAIL)
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
        result = self._miss(wire, udp=True)
        if isinstance(result, bytes):
            send.sendto(result, addr)
        elif isinstance(result, _Pending):
            if len(self._waiting) >= MAX_PENDING_UDP:
                self.counts[counters.drop_slot(Drop.OVERFLOW)] += 1
                return
            # One task waits for the read on behalf of every UDP question that needs it.
            self._waiting.append((result, addr, send))
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_task(self._answer_waiting())

    async def _answer_waiting(self) -> None:
        try:
            snapshot = await self._wait_fresh()
        finally:
            waiting, self._waiting, self._waiter = self._waiting, [], None
        for pending, addr, send in waiting:
            reply = self._after_wait(pending, snapshot)
            if reply is not None:
                send.sendto(reply, addr)

    # --- TCP ---------------------------------------------------------------------------------

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        client = client_key(str(peer[0])) if isinstance(peer, tuple) and peer else "?"
        slot = None if task is None else self.tcp_slots.admit(client, task.cancel)
        if task is None or slot is None:
            writer.close()
            return
        self._tcp_clients.add(task)
        try:
            await serve_connection(reader, writer, self._answer_tcp, self._idle, slot)
        finally:
            self.tcp_slots.release(slot)
            self._tcp_clients.discard(task)

    async def _answer_tcp(self, wire: bytes) -> bytes | None:
        result = self._begin(wire, udp=False)
        if isinstance(result, _Pending):
            return self._after_wait(result, await self._wait_fresh())
        return result


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
