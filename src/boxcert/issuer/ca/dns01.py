"""DNS-01 plumbing: where TXT values are published, and waiting until they are served.

Contract of :class:`TxtStore`: ``publish(name, value)`` makes ``value`` one of the TXT answers
for ``name`` on every authoritative server of the zone (they all read the issuer's database);
``remove(name, value)`` takes exactly that value away and leaves others for the same name
(a wildcard and its base name share ``_acme-challenge.<label>.<zone>``). Both are idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock, system_clock
from boxcert.storage import txt

log = logging.getLogger(__name__)
TXT_LIFETIME = timedelta(hours=1)  # a forgotten record expires by itself


class TxtStore(Protocol):
    def publish(self, name: str, value: str) -> None: ...

    def remove(self, name: str, value: str) -> None: ...


class SqlTxtStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def publish(self, name: str, value: str) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            if value not in txt.txt_values(session, name, now):
                txt.publish_txt(session, name, value, now, now + TXT_LIFETIME)

    def remove(self, name: str, value: str) -> None:
        with self.sessions.begin() as session:
            txt.remove_txt(session, name, value)


def served_values(server: tuple[str, int], name: str, timeout: float = 2.0) -> set[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dns.query.udp(query, server[0], port=server[1], timeout=timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server[0], port=server[1], timeout=timeout)
    values: set[str] = set()
    for rrset in response.answer:
        for rdata in rrset:
            values.add(b"".join(rdata.strings).decode("ascii", "replace"))
    return values


def wait_until_served(
    servers: Sequence[tuple[str, int]],
    name: str,
    values: set[str],
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll every server until each answers all ``values`` for ``name``; False on timeout."""
    deadline = time.monotonic() + timeout
    pending = list(servers)
    while pending:
        still: list[tuple[str, int]] = []
        for server in pending:
            try:
                if not values <= served_values(server, name):
                    still.append(server)
            except (OSError, ValueError, dns.exception.DNSException) as err:
                log.debug("TXT check at %s:%d failed: %s", server[0], server[1], err)
                still.append(server)
        pending = still
        if pending:
            if time.monotonic() >= deadline:
                return False
            sleep(interval)
    return True
