"""Reading the time from sources other than the box's clock: SNTP and the issuer's ``Date``.

SNTP (RFC 4330) is written out here: one 48-byte request and the server's transmit timestamp
are all we need, and the NTP client libraries on PyPI are unmaintained. The ``Date`` header
comes from ``GET <issuer>/iot/info`` (no credentials; the agent reads it with the zone, see
:mod:`boxcert.box.issuerinfo`, through :func:`date_reading`); with ``verify=False`` — used only
after verified TLS failed on certificate dates — it is a hint (see :mod:`.clock`).
"""

from __future__ import annotations

import email.utils
import os
import socket
import ssl
import struct
from datetime import UTC, datetime, timedelta

from boxcert.box.deadline import Deadline
from boxcert.box.diagnosis.clock import Reading, Source
from boxcert.box.transport import ExchangeFailed, get, tls_context, unverified_context
from boxcert.clock import Clock, system_clock

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
TIMEOUT = 3.0


class TimeSourceError(Exception):
    """A time source did not give a usable reading; the message says why."""


def sntp(server: tuple[str, int], clock: Clock = system_clock, timeout: float = TIMEOUT) -> Reading:
    """One SNTP exchange; the reference is the server's time at our receive, corrected by half
    the round trip."""
    request = bytearray(48)
    request[0] = (0 << 6) | (4 << 3) | 3  # no leap warning, version 4, client mode
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sent = clock()
        try:
            sock.sendto(bytes(request), server)
            data, _ = sock.recvfrom(512)
        except OSError as err:
            raise TimeSourceError(f"NTP server {server[0]}:{server[1]}: {err}") from err
        received = clock()
    if len(data) < 48 or data[0] & 0x07 not in (4, 5) or data[1] == 0:
        # mode must be server/broadcast; stratum 0 is a "kiss of death"
        raise TimeSourceError(f"NTP server {server[0]}:{server[1]} sent no usable time")
    seconds, fraction = struct.unpack("!II", data[40:48])
    transmit = datetime.fromtimestamp(seconds - NTP_EPOCH_OFFSET + fraction / 2**32, UTC)
    half_trip = (received - sent) / 2
    return Reading(Source.NTP, transmit + half_trip, received, f"{server[0]}:{server[1]}")


def date_reading(
    header: str, sent: datetime, received: datetime, where: str, *, verified: bool
) -> Reading | None:
    """A reading from an HTTP ``Date`` header received at ``received`` for a request sent at
    ``sent`` (both by the box's clock); None when the header is missing or unreadable."""
    try:
        when = email.utils.parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        when = None
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    # The header is truncated to the second: add half of it, and half the round trip.
    reference = when + timedelta(milliseconds=500) + (received - sent) / 2
    return Reading(Source.ISSUER if verified else Source.ISSUER_HINT, reference, received, where)


def issuer_date(
    base_url: str,
    verify: ssl.SSLContext | bool,
    clock: Clock = system_clock,
    timeout: float = TIMEOUT,
) -> Reading:
    """The issuer's ``Date`` header from ``GET /iot/info``; ``verify=False`` gives a hint."""
    url = base_url.rstrip("/") + "/iot/info"
    if verify is False:
        context = unverified_context()
    elif verify is True:
        context = tls_context("")
    else:
        context = verify
    sent = clock()
    try:
        answer = get(url, context=context, deadline=Deadline(timeout), environ=os.environ)
    except ExchangeFailed as err:
        raise TimeSourceError(f"{url}: {err}") from err
    found = date_reading(answer.date, sent, clock(), url, verified=verify is not False)
    if found is None:
        raise TimeSourceError(f"{url} sent no Date header")
    return found
