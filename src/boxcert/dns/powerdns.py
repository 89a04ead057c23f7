"""The IoT zone on PowerDNS: a zone file whose LUA records answer like our own server.

For vendors whose zone must live on the DNS servers they already run. Two wildcard LUA records
(``enable-lua-records=yes``) give the IP-in-name answers: ``a-b-c-d.<label>.<zone>`` → A and
``fd00--1.<label>.<zone>`` → AAAA, for LAN addresses only (the ranges of
:data:`boxcert.naming.LAN_NETWORKS`) and only when ``<label>`` has the shape of a holder label —
the same rule as :func:`boxcert.dns.answer.answer`, so no certificate can be validated for a
name that points at someone's public address. PowerDNS answers NODATA where our server answers
NXDOMAIN; neither gives an address.

ACME TXT values go in by RFC 2136 dynamic updates signed with TSIG
(``boxcert issuer serve --txt-store rfc2136``); the zone must allow them
(``dnsupdate=yes``, ``allow-dnsupdate-from``, and the ``TSIG-ALLOW-DNSUPDATE`` metadata). A
dynamic update in a wildcard's zone creates a real ``_acme-challenge.<label>`` node, which
PowerDNS then answers instead of the wildcard, as it should.
"""

from __future__ import annotations

import ipaddress

from boxcert import naming

LUA_TTL = 300

_V4_BODY = (
    "local name = string.lower(qname:toString()) "
    "local a, b, c, d, label = string.match(name, "
    "'^(%d+)%-(%d+)%-(%d+)%-(%d+)%.([a-z2-7]+)%.{zone_pattern}%.$') "
    "if a == nil or #label ~= {label_length} then return {{}} end "
    "local ip = a .. '.' .. b .. '.' .. c .. '.' .. d "
    "local ok, addr = pcall(newCA, ip) "
    "if not ok or tonumber(a) > 255 or tonumber(b) > 255 or tonumber(c) > 255 "
    "or tonumber(d) > 255 then return {{}} end "
    "local lan = newNMG() lan:addMasks({{{masks}}}) "
    "if lan:match(addr) then return ip end return {{}}"
)
_V6_BODY = (
    "local name = string.lower(qname:toString()) "
    "local host, label = string.match(name, '^([0-9a-f%-]+)%.([a-z2-7]+)%.{zone_pattern}%.$') "
    "if host == nil or #label ~= {label_length} or not string.find(host, '-', 1, true) "
    "then return {{}} end "
    "local ip = string.gsub(host, '%-', ':') "
    "local ok, addr = pcall(newCA, ip) if not ok then return {{}} end "
    "local lan = newNMG() lan:addMasks({{{masks}}}) "
    "if lan:match(addr) then return ip end return {{}}"
)


def _lua_pattern(zone: str) -> str:
    """The zone as a Lua pattern: dots and dashes escaped."""
    return "".join("%" + c if c in ".-" else c for c in zone)


def _masks(version: int) -> str:
    return ",".join(f"'{n}'" for n in naming.LAN_NETWORKS if n.version == version)


def lua_bodies(zone: str) -> tuple[str, str]:
    """The Lua code of the A and the AAAA record for ``zone``."""
    zone = naming.normalize_zone(zone)
    fields = {"zone_pattern": _lua_pattern(zone), "label_length": naming.LABEL_LENGTH}
    return (
        _V4_BODY.format(masks=_masks(4), **fields),
        _V6_BODY.format(masks=_masks(6), **fields),
    )


def zone_file(
    zone: str,
    ns_names: tuple[str, ...] = (),
    ns_addresses: tuple[naming.IPAddress, ...] = (),
    *,
    hostmaster: str = "",
    serial: int = 1,
    negative_ttl: int = 60,
) -> str:
    """A BIND-format zone file for ``pdnsutil load-zone`` (or any RFC 1035 loader that knows
    PowerDNS's LUA type)."""
    zone = naming.normalize_zone(zone)
    names = [naming.normalize_zone(n) for n in ns_names] or [f"ns1.{zone}"]
    contact = hostmaster or f"hostmaster.{zone}"
    v4, v6 = lua_bodies(zone)
    lines = [
        f"$ORIGIN {zone}.",
        f"@ 3600 IN SOA {names[0]}. {contact}. {serial} 3600 600 1209600 {negative_ttl}",
        *(f"@ 3600 IN NS {n}." for n in names),
    ]
    for name in names:
        if name.endswith(f".{zone}"):
            for ip in ns_addresses:
                rtype = "A" if isinstance(ip, ipaddress.IPv4Address) else "AAAA"
                lines.append(f"{name}. 3600 IN {rtype} {ip}")
    lines.append(f'* {LUA_TTL} IN LUA A ";{v4}"')
    lines.append(f'* {LUA_TTL} IN LUA AAAA ";{v6}"')
    return "\n".join(lines) + "\n"
