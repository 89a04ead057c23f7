"""Reading the issuer's public facts: ``GET <issuer>/iot/info`` → ``{"zone", "api_version"}``.

The hub hands boxes the zone their names live in; the issuer is where that zone is decided.
TLS is always verified (the system store, or ``ca_file`` for a private CA); plain http only to
this machine. Any failure is a :class:`~boxcert.hub.errors.HubError` with one readable line.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx

from boxcert import naming
from boxcert.hub.errors import HubError
from boxcert.wire.hub import check_transport
from boxcert.wire.text import printable
from boxcert.wire.x509 import WireError

INFO_PATH = "/iot/info"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ANSWER_BYTES = 64 * 1024
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_ZONE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def check_zone(zone: str) -> str:
    """``zone`` normalized (lower case, no final dot); ValueError when it is not a DNS name."""
    normal = naming.normalize_zone(zone)
    if not _ZONE.match(normal):
        raise ValueError(f"not a DNS zone: {zone!r}")
    return normal


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is not None:
        try:
            return ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as err:
            raise HubError(f"cannot read the CA file {ca_file}: {err}") from err
    return ssl.create_default_context()


def fetch_zone(issuer_url: str, ca_file: Path | None = None) -> str:
    """The zone the issuer announces, normalized."""
    try:
        check_transport(issuer_url, "the issuer URL")
    except WireError as err:
        raise HubError(str(err)) from err
    url = issuer_url.rstrip("/") + INFO_PATH
    try:
        with httpx.Client(verify=tls_context(ca_file), timeout=TIMEOUT) as client:
            response = client.get(url, follow_redirects=False)
    except httpx.HTTPError as err:
        raise HubError(f"cannot reach {url}: {printable(err) or type(err).__name__}") from err
    if response.status_code != 200:
        raise HubError(f"{url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise HubError(f"{url} answered more than {MAX_ANSWER_BYTES} bytes")
    try:
        body = response.json()
    except ValueError as err:
        raise HubError(f"{url} did not answer JSON") from err
    zone = body.get("zone") if isinstance(body, dict) else None
    if not isinstance(zone, str):
        raise HubError(f'{url} gave no "zone"')
    try:
        return check_zone(zone)
    except ValueError as err:
        raise HubError(f"{url} gave an invalid zone: {printable(zone, 80)}") from err
