"""Who the box is on the LAN: its label, its certificate names, its address and its URL.

The label and names follow from the box's key and zone alone (:mod:`boxcert.naming`; the zone
is the issuer's, or the one configured as an override), so they survive IP changes. The
address is the configured ``lan_ip``, else the local address the kernel would use towards the
box's server; finding it sends nothing and resolves no name, so a status answers at once even
when the LAN's DNS is broken. :func:`identify` looks the route up once.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from boxcert import naming, pki
from boxcert.box.config import BoxConfig

# Routed towards when the server's address is not literal: any private address will do.
_FALLBACK_TARGET = ipaddress.IPv4Address("10.255.255.254")


@dataclass(frozen=True, slots=True)
class BoxIdentity:
    label: str
    names: tuple[str, str]  # the wildcard first, then the base name
    address: naming.IPAddress
    url: str


def box_names(key: pki.PrivateKey, zone: str) -> tuple[str, str]:
    """The two names the certificate of the box holding ``key`` carries."""
    return naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), zone)


def lan_address(config: BoxConfig) -> naming.IPAddress:
    """The box's address on the LAN: configured, else the one routing to its server."""
    if config.lan_ip:
        return ipaddress.ip_address(config.lan_ip)  # validated when the config was loaded
    host = urlsplit(config.server).hostname or ""
    try:
        target: naming.IPAddress = ipaddress.ip_address(host)
    except ValueError:
        target = _FALLBACK_TARGET
    family = socket.AF_INET6 if target.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((str(target), 9))  # a UDP connect sends nothing; it only picks the route
            return ipaddress.ip_address(s.getsockname()[0])
    except OSError:
        return ipaddress.IPv4Address("127.0.0.1")


def identify(key: pki.PrivateKey, config: BoxConfig, zone: str = "") -> BoxIdentity:
    """The box's identity in ``zone`` (see :func:`boxcert.box.issuerinfo.zone_of`); without
    one, the configured override or the default zone."""
    zone = zone or config.zone or naming.DEFAULT_ZONE
    label = naming.box_label(pki.spki_der(key.public_key()))
    address = lan_address(config)
    return BoxIdentity(
        label=label,
        names=naming.certificate_names(label, zone),
        address=address,
        url=naming.box_url(address, label, zone, config.https_port),
    )
