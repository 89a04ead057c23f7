"""Reading the time from sources other than the box's clock: SNTP and the issuer's ``Date``.

SNTP (RFC 4330) is written out here: one 48-byte request and the server's transmit timestamp
are all we need, and the NTP client libraries on PyPI are unmaintained. The ``Date`` header
comes from ``GET <issuer>/iot/info`` (no credentials); with ``verify=False`` — used only after
verified TLS failed on certificate dates — it is a hint (see :mod:`.clock`).
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import struct
from datetime import UTC, datetime, timedelta

import httpx

from boxcert.box.diagnosis.clock import Reading, Source
from boxcert.clock import Clock, system_clock

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
TIMEOUT = 3.0


class TimeSourceError(Exception):
    """A time source did not give a usable reading; the message says why."""


def sntp(server: tuple[str, int], clock: Clock = system_clock,
         timeout: float = TIMEOUT) -> Reading:
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
    return Reading(Source.NTP, transmit + half_trip, received,
                   f"{server[0]}:{server[1]}")


def issuer_date(base_url: str, verify: ssl.SSLContext | bool, clock: Clock = system_clock,
                timeout: float = TIMEOUT) -> Reading:
    """The issuer's ``Date`` header from ``GET /iot/info``; ``verify=False`` gives a hint."""
    url = base_url.rstrip("/") + "/iot/info"
    sent = clock()
    try:
        with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False) as client:
            response = client.get(url, headers={"accept-encoding": "identity"})
    except httpx.HTTPError as err:
        raise TimeSourceError(f"{url}: {err}") from err
    received = clock()
    raw = response.headers.get("date")
    try:
        when = email.utils.parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        when = None
    if when is None:
        raise TimeSourceError(f"{url} sent no Date header")
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    # The header is truncated to the second: add half of it, and half the round trip.
    reference = when + timedelta(milliseconds=500) + (received - sent) / 2
    source = Source.ISSUER if verify is not False else Source.ISSUER_HINT
    return Reading(source, reference, received, url)
