"""TCP connection slots: a bound on all connections, and a share for each client.

RFC 7766 lets a server keep a client's connection open between queries and asks it to bound
how many each client holds. With only a total bound, one client could hold every slot by opening
them all and sending a query on each every few seconds, under the idle timeout; every other
client was then turned away. The policy here (pure, no sockets, no clock):

- A *client* is an IPv4 address, or an IPv6 /64 (the addresses of one host or one site).
- A client holds at most ``per_client`` connections. When it opens one more, its connection
  idle the longest is closed to make room; when none of its connections is idle (each is in the
  middle of a query), the new one is refused.
- When all ``total`` slots are taken, a new connection is given the slot of the connection idle
  the longest among the clients holding the most connections, as long as that client holds more
  than the newcomer (or is the newcomer); otherwise it is refused. So the client over its share
  loses its idle connections first, and a busy connection is never cut.

A connection is *idle* while it waits for the first byte of its next message, and *busy* from
then until its reply is written. Closing is the owner's ``close`` callback (the transport cancels
the connection's task); the slot is free at once.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import OrderedDict
from collections.abc import Callable

MAX_TCP_CLIENTS = 256
MAX_TCP_PER_CLIENT = 16


def client_key(host: str) -> str:
    """The client an address belongs to: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Slot:
    """One admitted connection. ``busy()`` when a message starts, ``idle()`` when its reply is
    written."""

    __slots__ = ("_slots", "client", "close", "open")

    def __init__(self, slots: TcpSlots, client: str, close: Callable[[], object]) -> None:
        self._slots = slots
        self.client = client
        self.close = close
        self.open = True

    def busy(self) -> None:
        self._slots._busy(self)

    def idle(self) -> None:
        self._slots._idle(self)


class TcpSlots:
    """The slots of one server; see the module docstring. Event loop only (not thread-safe)."""

    def __init__(self, total: int = MAX_TCP_CLIENTS, per_client: int = MAX_TCP_PER_CLIENT) -> None:
        self.total = total
        self.per_client = max(1, min(per_client, total))
        self._held: dict[str, int] = {}
        # Per client, its idle connections, the one idle the longest first.
        self._idle_by_client: dict[str, OrderedDict[Slot, int]] = {}
        self._order = itertools.count()  # when a connection went idle, as a sequence number
        self.taken = 0
        self.closed_for_room = 0  # idle connections closed to admit another
        self.refused = 0

    def admit(self, client: str, close: Callable[[], object]) -> Slot | None:
        """A slot for a new connection of ``client`` (idle: it waits for its first message),
        after closing an idle connection if the rules say so; None: refuse it."""
        held = self._held.get(client, 0)
        if held >= self.per_client:
            if not self._close_idlest(client):
                self.refused += 1
                return None
        elif self.taken >= self.total:
            victim = self._over_share(client, held)
            if victim is None or not self._close_idlest(victim):
                self.refused += 1
                return None
        slot = Slot(self, client, close)
        self._held[client] = self._held.get(client, 0) + 1
        self.taken += 1
        self._idle(slot)
        return slot

    def release(self, slot: Slot) -> None:
        """The connection is gone (idempotent)."""
        if not slot.open:
            return
        slot.open = False
        self._busy(slot)
        self.taken -= 1
        left = self._held[slot.client] - 1
        if left:
            self._held[slot.client] = left
        else:
            del self._held[slot.client]

    def held(self, client: str) -> int:
        return self._held.get(client, 0)

    def _busy(self, slot: Slot) -> None:
        idle = self._idle_by_client.get(slot.client)
        if idle is not None and idle.pop(slot, None) is not None and not idle:
            del self._idle_by_client[slot.client]

    def _idle(self, slot: Slot) -> None:
        if slot.open:
            self._idle_by_client.setdefault(slot.client, OrderedDict())[slot] = next(self._order)

    def _over_share(self, newcomer: str, held: int) -> str | None:
        """The client to take a slot from: the most connections, an idle one among them, and
        more than the newcomer holds (or the newcomer itself); ties go to the longest idle."""
        best: tuple[int, int] | None = None
        victim = None
        for client, idle in self._idle_by_client.items():
            count = self._held[client]
            if client != newcomer and count <= held:
                continue
            since = next(iter(idle.values()))
            rank = (count, -since)
            if best is None or rank > best:
                best, victim = rank, client
        return victim

    def _close_idlest(self, client: str) -> bool:
        idle = self._idle_by_client.get(client)
        if not idle:
            return False
        slot = next(iter(idle))
        self.release(slot)
        self.closed_for_room += 1
        slot.close()
        return True
