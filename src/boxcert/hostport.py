"""``HOST:PORT`` as the CLI takes it, for every role: ``127.0.0.1:53``, ``[::1]:53``,
``ns1.example.net:53``."""

from __future__ import annotations

import ipaddress
import socket


def parse_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``text`` into (host, port); ValueError with a readable reason when it is not one.

    An IPv6 address is always bracketed (``[::1]:53``, ``[::1]``); with ``default_port`` the
    port may be left out.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        # "::1:5353" is both an address and an address with a port: make the writer choose.
        raise ValueError(f"write an IPv6 address in brackets: [addr] or [addr]:port, not {text!r}")
    else:
        host, port_text = text, ""  # a bare name or IPv4 address
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port_text)


def resolve_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Like :func:`parse_host_port`, with a host name resolved to an address once, now."""
    host, port = parse_host_port(text, default_port)
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as err:
        raise ValueError(f"cannot resolve {host!r}: {err}") from err
    return str(info[0][4][0]), port
