"""The box's settings (``<home>/config.json``), checked field by field when loaded.

A hand-edited or damaged file gives one :class:`ConfigError` that names every bad field and says
what it must be; keys the box does not know are ignored (a newer version may have written them);
a file that is not a JSON object is refused as a whole. Nothing else in the box re-checks what
is validated here.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from boxcert import naming
from boxcert.box.errors import ConfigError
from boxcert.box.files import SMALL_FILE_BYTES, BoxPaths, read_optional, write_file
from boxcert.hostport import parse_host_port
from boxcert.wire import is_clean_text
from boxcert.wire.hub import BoxSecret

MAX_TEXT = 256
MAX_PATH = 4096
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class BoxConfig:
    server: str = ""
    db_uuid: str = ""
    enterprise_code: str = ""
    issuer: str = ""
    issuer_ca: str = ""
    trust_ca: list[str] = field(default_factory=list)
    zone: str = ""  # an override; empty: the zone the issuer announces (boxcert.box.issuerinfo)
    lan_ip: str = ""
    https_port: int = 443
    identifier: str = ""
    name: str = ""  # what the hub shows for this box
    hub_secret: str = ""  # the box's own secret for reporting to its hub (from pairing)
    hub_ca: str = ""  # PEM bundle that verifies the hub's TLS (a private CA); else the system's
    lan_resolver: str = ""  # the LAN's DNS server (IP[:PORT]) for the diagnosis; else the system's
    zone_dns: list[str] = field(default_factory=list)  # the zone's servers; else found by NS
    ntp_server: str = ""  # HOST[:PORT] the box compares its clock with
    deploy_hook: str = ""  # a shell command run after each install (boxcert.box.hook)

    def public_view(self) -> dict[str, Any]:
        """The configuration without secrets, for status output and pages."""
        view = asdict(self)
        view["enterprise_code"] = "set" if self.enterprise_code else ""
        view["hub_secret"] = "set" if self.hub_secret else ""
        return view


def check_issuer_url(url: str) -> None:
    """Raise ValueError unless ``url`` is https, or http to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise ValueError(f"plain http is only allowed to this machine, not {host}")
    raise ValueError(f"not an http(s) URL: {url!r}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


def _text(value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {_kind(value)}")
    if len(value) > limit:
        raise ValueError(f"is longer than {limit} characters")
    if not is_clean_text(value):
        raise ValueError("holds control or invalid characters")
    return value


def _server(value: object) -> str:
    url = _text(value, MAX_PATH)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL, not {url!r}")
    return url


def _issuer(value: object) -> str:
    url = _text(value, MAX_PATH)
    if url:
        check_issuer_url(url)
    return url


def _path_list(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of file paths, not {_kind(value)}")
    return [_text(item, MAX_PATH) for item in value]


def check_zone(text: str) -> str:
    """``text`` as a zone (lower case, no final dot); ValueError when it is not one."""
    zone = naming.normalize_zone(text)
    if len(zone) > 200 or not all(_DNS_LABEL.fullmatch(part) for part in zone.split(".")):
        raise ValueError(f"not a DNS zone: {zone!r}")
    return zone


def _zone(value: object) -> str:
    text = _text(value)
    return check_zone(text) if text else ""  # empty: no override, the issuer's zone


def _lan_ip(value: object) -> str:
    text = _text(value)
    if text:
        ipaddress.ip_address(text)  # its ValueError says what is wrong
    return text


def _server_address(value: object, default_port: int, *, literal: bool) -> str:
    """``HOST[:PORT]`` (IPv6 in brackets); ``literal``: the host must be an IP address (a
    resolver is given by address: there is nothing to resolve its name with)."""
    text = _text(value)
    if text:
        host, _port = parse_host_port(text, default_port)  # its ValueError says what is wrong
        if literal:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"must be an IP address[:port], not {text!r}") from None
    return text


def _resolver(value: object) -> str:
    return _server_address(value, 53, literal=True)


def _resolvers(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of IP[:PORT], not {_kind(value)}")
    if len(value) > 8:
        raise ValueError("holds more than 8 servers")
    return [_resolver(item) for item in value if item != ""]


def _ntp(value: object) -> str:
    return _server_address(value, 123, literal=False)


def _hub_secret(value: object) -> str:
    secret = _text(value)
    if secret:
        BoxSecret.parse(secret)  # its WireError (a ValueError) never repeats the value
    return secret


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        shown = repr(value) if isinstance(value, float) else _kind(value)
        raise ValueError(f"must be a whole number, not {shown}")
    if not 1 <= value <= 65535:
        raise ValueError(f"must be between 1 and 65535, not {value}")
    return value


_CHECKS: dict[str, Callable[[object], object]] = {
    "server": _server,
    "db_uuid": _text,
    "enterprise_code": _text,
    "issuer": _issuer,
    "issuer_ca": lambda v: _text(v, MAX_PATH),
    "trust_ca": _path_list,
    "zone": _zone,
    "lan_ip": _lan_ip,
    "https_port": _port,
    "identifier": _text,
    "name": lambda v: _text(v, 100),
    "hub_secret": _hub_secret,
    "hub_ca": lambda v: _text(v, MAX_PATH),
    "lan_resolver": _resolver,
    "zone_dns": _resolvers,
    "ntp_server": _ntp,
    "deploy_hook": lambda v: _text(v, MAX_PATH),
}
assert set(_CHECKS) == {f.name for f in fields(BoxConfig)}


def parse_config(raw: object, source: str = "config.json") -> BoxConfig:
    """A BoxConfig from a decoded JSON document; ConfigError naming every bad field."""
    if not isinstance(raw, dict):
        raise ConfigError({"": f"must hold a JSON object of settings, not {_kind(raw)}"}, source)
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, check in _CHECKS.items():
        if name in raw:
            try:
                values[name] = check(raw[name])
            except ValueError as err:
                problems[name] = str(err)
    if problems:
        raise ConfigError(problems, source)
    return BoxConfig(**values)


def load_raw(paths: BoxPaths) -> dict[str, Any]:
    """The settings object as stored ({} without a file); ConfigError when it is not one."""
    data = read_optional(paths.config, SMALL_FILE_BYTES)  # BoxFileError: not a regular file
    if data is None:
        return {}
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise ConfigError({"": f"is not valid JSON ({err})"}, str(paths.config)) from err
    if not isinstance(raw, dict):
        raise ConfigError(
            {"": f"must hold a JSON object of settings, not {_kind(raw)}"}, str(paths.config)
        )
    return raw


def load_config(paths: BoxPaths) -> BoxConfig:
    """The box's settings; defaults without a file; ConfigError or BoxFileError when damaged."""
    return parse_config(load_raw(paths), str(paths.config))


def save_config(paths: BoxPaths, config: BoxConfig) -> None:
    # 0600: the file holds the contract code and the hub secret.
    data = json.dumps(asdict(config), indent=2, sort_keys=True).encode() + b"\n"
    write_file(paths.config, data, 0o600)


def update_config(paths: BoxPaths, **changes: Any) -> BoxConfig:
    """Apply ``changes`` (None leaves a field as it is) to the stored settings and save them.

    Fields the changes fix need not be valid before: a damaged field can be repaired this way.
    Raises ConfigError naming what is still wrong; nothing is saved then.
    """
    raw = load_raw(paths)
    raw.update({k: v for k, v in changes.items() if v is not None})
    config = parse_config(raw, str(paths.config))
    save_config(paths, config)
    return config


def configured(config: BoxConfig, **changes: Any) -> BoxConfig:
    """A copy of ``config`` with the given fields changed (None leaves a field as it is)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
