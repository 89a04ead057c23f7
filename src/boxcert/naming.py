"""Names in the IoT zone: tenant labels and IP-in-name host labels.

A *label* names one certificate holder under the zone: ``<label>.<zone>``. A box's label is
derived from its public key, so the box knows its names before it asks and keeps them across IP
changes; a database's label (for the compatible no-CSR exchange) is an HMAC of its uuid, so the
uuid cannot be read back from a public name. Host labels carry an IP address with dashes, as
sslip.io does: ``192-168-1-5`` is 192.168.1.5 and ``fd00--1`` is fd00::1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_ZONE = "iot.boxcert.test"
LABEL_LENGTH = 16
_LABEL_RE = re.compile(r"[a-z2-7]{16}")
_IPV4_RE = re.compile(r"[0-9]{1,3}(-[0-9]{1,3}){3}")
_IPV6_RE = re.compile(r"[0-9a-f-]+")

# Addresses a box on a customer's LAN can have. Public addresses are left out on purpose: a name
# in our zone pointing at someone else's public IP would let anyone get a certificate for it.
LAN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT, also used by overlay VPNs
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def _b32(digest: bytes) -> str:
    return base64.b32encode(digest).decode("ascii").lower()[:LABEL_LENGTH]


def box_label(spki_der: bytes) -> str:
    """Label of a box: first 16 characters of the base32 SHA-256 of its SubjectPublicKeyInfo."""
    return _b32(hashlib.sha256(spki_der).digest())


def database_label(db_uuid: str, secret: bytes) -> str:
    """Label of a database for the no-CSR exchange; keyed so the uuid cannot be recovered."""
    mac = hmac.new(secret, db_uuid.strip().lower().encode("utf-8"), hashlib.sha256)
    return _b32(mac.digest())


def is_label(text: str) -> bool:
    return bool(_LABEL_RE.fullmatch(text))


def normalize_zone(zone: str) -> str:
    zone = zone.strip().rstrip(".").lower()
    if not zone or any(not part for part in zone.split(".")):
        raise ValueError(f"not a DNS zone: {zone!r}")
    return zone


def certificate_names(label: str, zone: str) -> tuple[str, str]:
    """The two names a holder's certificate carries: the wildcard first, then the base name."""
    base = f"{label}.{normalize_zone(zone)}"
    return (f"*.{base}", base)


def ip_to_label(ip: IPAddress) -> str:
    """``192.168.1.5`` → ``192-168-1-5``; ``fd00::1`` → ``fd00--1``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip).replace(".", "-")
    return ip.compressed.replace(":", "-")


def label_to_ip(label: str) -> IPAddress | None:
    """The address a host label spells, or None when it spells none."""
    label = label.lower()
    try:
        if _IPV4_RE.fullmatch(label):
            return ipaddress.IPv4Address(label.replace("-", "."))
        if _IPV6_RE.fullmatch(label) and "-" in label:
            return ipaddress.IPv6Address(label.replace("-", ":"))
    except ValueError:
        return None
    return None


def is_lan_address(ip: IPAddress) -> bool:
    return any(ip in net for net in LAN_NETWORKS if net.version == ip.version)


def host_name(ip: IPAddress, label: str, zone: str) -> str:
    return f"{ip_to_label(ip)}.{label}.{normalize_zone(zone)}"


def box_url(ip: IPAddress, label: str, zone: str, port: int = 443) -> str:
    host = host_name(ip, label, zone)
    return f"https://{host}" if port == 443 else f"https://{host}:{port}"
