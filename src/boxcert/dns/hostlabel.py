"""The address a host label spells, if the zone serves it: :mod:`boxcert.naming`'s rule, faster.

``naming.label_to_ip`` and ``naming.is_lan_address`` define which host labels exist (the policy,
shared with the box and the issuer). A DNS server runs them for every name it has not answered
in the last second, where they were a third of the fast path's time (a regular expression, an
address parsed from text, nine network membership tests). This module gives the same result with
integer comparisons against the same ``naming.LAN_NETWORKS``, reading a dashed-quad label
itself and every other label with ``naming.label_to_ip``; a test compares the two on generated
labels.
"""

from __future__ import annotations

import ipaddress
import re

from boxcert import naming
from boxcert.naming import IPAddress

# naming's IPv4 form without leading zeros (Python's parser refuses them: naming says None)
_OCTET = "(0|[1-9][0-9]{0,2})"
_IPV4 = re.compile("-".join([_OCTET] * 4))


def _lan_by_first_octet() -> list[bool | tuple[tuple[int, int], ...]]:
    """For each first octet: True when every address under it is a LAN address, else the LAN
    ranges (first, last as integers) that start with it (empty: none)."""
    table: list[bool | tuple[tuple[int, int], ...]] = []
    for first in range(256):
        block = ipaddress.IPv4Network((first << 24, 8))
        nets = [n for n in naming.LAN_NETWORKS if n.version == 4 and n.overlaps(block)]
        if any(block.subnet_of(n) for n in nets):
            table.append(True)
        else:
            table.append(tuple((int(n.network_address), int(n.broadcast_address)) for n in nets))
    return table


_LAN_V4 = _lan_by_first_octet()
_LAN_V6 = tuple(
    (int(net.network_address), int(net.broadcast_address))
    for net in naming.LAN_NETWORKS
    if net.version == 6
)


def host_address(label: str, allow_public: bool) -> IPAddress | None:
    """The address ``label`` (lowercase) spells when the zone answers it: a LAN address, or any
    address with ``allow_public``; None otherwise."""
    match = _IPV4.fullmatch(label)
    if match is not None:
        a, b, c, d = map(int, match.groups())
        if a > 255 or b > 255 or c > 255 or d > 255:
            return None
        value = (a << 24) | (b << 16) | (c << 8) | d
        if not allow_public:
            lan = _LAN_V4[a]
            if lan is not True and not (lan and any(lo <= value <= hi for lo, hi in lan)):
                return None
        return ipaddress.IPv4Address(value)
    ip = naming.label_to_ip(label)
    if ip is None or allow_public:
        return ip
    if isinstance(ip, ipaddress.IPv6Address):
        value = int(ip)
        return ip if any(lo <= value <= hi for lo, hi in _LAN_V6) else None
    return ip if naming.is_lan_address(ip) else None
