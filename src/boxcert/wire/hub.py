"""The box⇄hub exchange: pairing by one-time token, then reports authenticated as the box.

Strings a person or a box keeps (``.``-separated, base64url parts, no spaces):

- pairing token ``bxp1.<hub URL>.<token id>.<secret>`` — what ``boxcert hub token`` prints and
  ``boxcert box connect`` takes. It names the hub (its URL, base64url-encoded) and carries a
  one-time secret, never the contract code. The hub keeps only the id and a hash.
- box secret ``bxs1.<secret id>.<secret>`` — handed to the box at pairing; the box sends it as
  ``Authorization: Bearer …`` with each report. The hub keeps only the id and a hash.

Endpoints of the hub (JSON bodies of at most :data:`MAX_BODY_BYTES`):

``POST /iot/box/connect``
    ``{"params": {"token", "identifier", "name"}}`` → ``{"result": {"server_url", "db_uuid",
    "enterprise_code", "issuer_url", "zone", "box_secret"}}``. A refused token is an HTTP
    error with the body of :mod:`boxcert.wire.errors` and a :class:`PairingRefusal` code.
``POST /iot/box/report`` (``Authorization: Bearer <box secret>``)
    ``{"params": {"identifier", "name", "ip", "url", "certificate_end_date", "status",
    "error_code", "detail"}}`` → ``{"result": {"accepted": true}}``; 401 when the secret is
    unknown (a forgotten box), 403 when it belongs to another identifier.
``POST /iot/box/update_certificate_status`` (the report existing vendor boxes send)
    ``{"params": {"identifier", "ssl_certificate_end_date"}}`` → ``{"jsonrpc": "2.0",
    "id": null, "result": true}``; refused (404) for identifiers the hub does not know.

Datetimes are ISO 8601 with an offset and parse to aware datetimes; only the legacy report
may omit the offset (existing boxes send UTC without one). Every parser raises
:class:`~boxcert.wire.x509.WireError` saying which field is wrong and why.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from boxcert.wire.text import is_clean_text
from boxcert.wire.x509 import WireError, parse_timestamp

CONNECT_PATH = "/iot/box/connect"
REPORT_PATH = "/iot/box/report"
LEGACY_REPORT_PATH = "/iot/box/update_certificate_status"
BOX_PATHS = "/iot/box/"  # prefix of every endpoint a box calls
MAX_BODY_BYTES = 16 * 1024
TOKEN_PREFIX = "bxp1"  # noqa: S105 - a format marker, not a secret
BOX_SECRET_PREFIX = "bxs1"  # noqa: S105 - a format marker, not a secret
MAX_URL_CHARS = 300
_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_ERROR_CODE = re.compile(r"^ERR_[A-Z0-9_]{1,60}( [A-Za-z0-9_.:-]{1,32})?$")


class MalformedToken(WireError):
    """A string that is not a pairing token (:data:`PairingRefusal.MALFORMED`)."""


class PairingRefusal(enum.StrEnum):
    """Why the hub refuses a pairing token; sent as the error code of the refusal."""

    MALFORMED = "token_malformed"
    UNKNOWN = "token_unknown"
    USED = "token_used"
    EXPIRED = "token_expired"
    NOT_CONFIGURED = "hub_not_configured"

    @property
    def status(self) -> int:
        return {"token_malformed": 400, "hub_not_configured": 503}.get(self.value, 403)

    @property
    def message(self) -> str:
        return _REFUSAL_MESSAGES[self]


_REFUSAL_MESSAGES = {
    PairingRefusal.MALFORMED: "this is not a pairing token (a pairing token starts with bxp1.)",
    PairingRefusal.UNKNOWN: "the hub does not know this pairing token; make a new one",
    PairingRefusal.USED: "this pairing token was already used; make a new one",
    PairingRefusal.EXPIRED: "this pairing token has expired; make a new one",
    PairingRefusal.NOT_CONFIGURED: "the hub is not configured yet (boxcert hub configure)",
}


class BoxState(enum.StrEnum):
    """The certificate state a box reports (the box's own status, on the wire)."""

    OK = "ok"
    NEED_REFRESH = "need_refresh"
    ERROR = "error"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def _unb64(part: str) -> str:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
    except (binascii.Error, ValueError) as err:
        raise WireError("the hub address in the token is damaged") from err


def check_hub_url(url: str, what: str = "the hub URL") -> str:
    """``url`` without a trailing slash when it is an http(s) URL with a host, no user and no
    query or fragment; WireError otherwise. (Whether plain http is allowed is the caller's
    transport policy.)"""
    if not url or len(url) > MAX_URL_CHARS or not is_clean_text(url) or " " in url:
        raise WireError(f"{what} is empty, too long or holds invalid characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WireError(f"{what} must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise WireError(f"{what} must not carry a user, a query or a fragment")
    return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(url: str, what: str = "the hub URL") -> None:
    """WireError unless ``url`` is https, or plain http to this machine: secrets (contract
    code, box secret) never cross a network in clear text."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback_host(parts.hostname or "")
    ):
        return
    raise WireError(f"{what} must use https:// (plain http only to this machine)")


def _secret_parts(text: str, prefix: str, count: int, what: str) -> list[str]:
    parts = text.strip().split(".")
    if len(parts) != count or parts[0] != prefix or not all(_PART.match(p) for p in parts[1:]):
        raise WireError(f"this is not a {what} (a {what} starts with {prefix}.)")
    return parts[1:]


@dataclass(frozen=True, slots=True)
class PairingToken:
    hub_url: str
    token_id: str
    secret: str = field(repr=False)

    def encode(self) -> str:
        return f"{TOKEN_PREFIX}.{_b64(self.hub_url)}.{self.token_id}.{self.secret}"

    @classmethod
    def parse(cls, text: str) -> PairingToken:
        """Read a token; :class:`MalformedToken` says what is wrong with it."""
        try:
            if len(text) > 1024:
                raise WireError("this is not a pairing token (too long)")
            url, token_id, secret = _secret_parts(text, TOKEN_PREFIX, 4, "pairing token")
            hub_url = check_hub_url(_unb64(url), "the hub address in the token")
        except MalformedToken:
            raise
        except WireError as err:
            raise MalformedToken(str(err)) from err
        return cls(hub_url, token_id, secret)


@dataclass(frozen=True, slots=True)
class BoxSecret:
    secret_id: str
    secret: str = field(repr=False)

    def encode(self) -> str:
        return f"{BOX_SECRET_PREFIX}.{self.secret_id}.{self.secret}"

    @classmethod
    def parse(cls, text: str) -> BoxSecret:
        if len(text) > 256:
            raise WireError("this is not a box secret (too long)")
        secret_id, secret = _secret_parts(text, BOX_SECRET_PREFIX, 3, "box secret")
        return cls(secret_id, secret)

    def authorization(self) -> dict[str, str]:
        """The header a report carries."""
        return {"Authorization": f"Bearer {self.encode()}"}

    @classmethod
    def from_authorization(cls, header: str | None) -> BoxSecret:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise WireError("the report needs an Authorization: Bearer header with the box secret")
        return cls.parse(value)


def _params(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WireError("the body must be a JSON object")
    params = body.get("params")
    if not isinstance(params, dict):
        raise WireError('the body must have a "params" object')
    return params


def _text(params: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise WireError(f'"params.{key}" is missing')
        return ""
    if not isinstance(value, str):
        raise WireError(f'"params.{key}" must be a string')
    if len(value) > limit:
        raise WireError(f'"params.{key}" is longer than {limit} characters')
    if not is_clean_text(value):
        raise WireError(f'"params.{key}" holds control or invalid characters')
    return value.strip()


def _end_date(params: dict[str, Any], key: str, *, offset_required: bool) -> datetime | None:
    value = params.get(key)
    if value is None or value == "" or value is False:  # vendor boxes may send false for none
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise WireError(f'"params.{key}" must be an ISO 8601 date and time')
    if offset_required and isinstance(value, str) and datetime.fromisoformat(value).tzinfo is None:
        raise WireError(f'"params.{key}" must carry its UTC offset (e.g. +00:00)')
    return parsed


def _identifier(params: dict[str, Any]) -> str:
    identifier = _text(params, "identifier", 128, required=True)
    if not identifier:
        raise WireError('"params.identifier" is missing')
    return identifier


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    token: PairingToken
    identifier: str
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "params": {
                "token": self.token.encode(),
                "identifier": self.identifier,
                "name": self.name,
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> ConnectRequest:
        """Read a request: :class:`MalformedToken` for a bad token, WireError for the rest."""
        params = _params(body)
        token = params.get("token")
        if not isinstance(token, str):
            raise MalformedToken('"params.token" is missing')
        return cls(PairingToken.parse(token), _identifier(params), _text(params, "name", 100))


@dataclass(frozen=True, slots=True)
class ConnectAnswer:
    """What a box receives at pairing; everything it needs to get and report certificates."""

    server_url: str
    db_uuid: str
    enterprise_code: str = field(repr=False)
    issuer_url: str
    zone: str
    box_secret: BoxSecret

    def to_json(self) -> dict[str, Any]:
        return {
            "result": {
                "server_url": self.server_url,
                "db_uuid": self.db_uuid,
                "enterprise_code": self.enterprise_code,
                "issuer_url": self.issuer_url,
                "zone": self.zone,
                "box_secret": self.box_secret.encode(),
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> ConnectAnswer:
        if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
            raise WireError('the answer must have a "result" object')
        result = body["result"]
        values = {key: _text(result, key, 300, required=True) for key in _ANSWER_FIELDS}
        return cls(
            server_url=check_hub_url(values["server_url"], "server_url"),
            db_uuid=values["db_uuid"],
            enterprise_code=values["enterprise_code"],
            issuer_url=check_hub_url(values["issuer_url"], "issuer_url"),
            zone=values["zone"],
            box_secret=BoxSecret.parse(values["box_secret"]),
        )


_ANSWER_FIELDS = ("server_url", "db_uuid", "enterprise_code", "issuer_url", "zone", "box_secret")


@dataclass(frozen=True, slots=True)
class BoxReport:
    identifier: str
    state: BoxState
    name: str = ""
    ip: str = ""
    url: str = ""
    certificate_end_date: datetime | None = None
    error_code: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        end = self.certificate_end_date
        if end is not None and end.tzinfo is None:
            raise ValueError("BoxReport.certificate_end_date must be an aware datetime")

    def to_json(self) -> dict[str, Any]:
        end = self.certificate_end_date
        return {
            "params": {
                "identifier": self.identifier,
                "name": self.name,
                "ip": self.ip,
                "url": self.url,
                "certificate_end_date": end.isoformat() if end else None,
                "status": self.state.value,
                "error_code": self.error_code,
                "detail": self.detail,
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> BoxReport:
        params = _params(body)
        status = params.get("status")
        try:
            state = BoxState(str(status))
        except ValueError:
            allowed = ", ".join(s.value for s in BoxState)
            raise WireError(f'"params.status" must be one of: {allowed}') from None
        ip = _text(params, "ip", 64)
        if ip:
            try:
                ip = str(ipaddress.ip_address(ip))
            except ValueError:
                raise WireError('"params.ip" must be an IPv4 or IPv6 address') from None
        url = _text(params, "url", MAX_URL_CHARS)
        if url and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname or " " in url):
            raise WireError('"params.url" must be an https:// URL')
        error_code = _text(params, "error_code", 100) or None
        if error_code is not None and not _ERROR_CODE.match(error_code):
            raise WireError('"params.error_code" must look like ERR_… (with an optional suffix)')
        return cls(
            identifier=_identifier(params),
            state=state,
            name=_text(params, "name", 100),
            ip=ip,
            url=url,
            certificate_end_date=_end_date(params, "certificate_end_date", offset_required=True),
            error_code=error_code,
            detail=_text(params, "detail", 500),
        )


@dataclass(frozen=True, slots=True)
class LegacyReport:
    """The report existing vendor boxes send after each check."""

    identifier: str
    certificate_end_date: datetime | None

    def to_json(self) -> dict[str, Any]:
        end = self.certificate_end_date
        return {
            "params": {
                "identifier": self.identifier,
                "ssl_certificate_end_date": str(end) if end else None,
            }
        }

    @classmethod
    def from_json(cls, body: Any) -> LegacyReport:
        params = _params(body)
        end = _end_date(params, "ssl_certificate_end_date", offset_required=False)
        return cls(_identifier(params), end)


def legacy_answer(body: Any) -> dict[str, Any]:
    """The JSON-RPC answer the vendor's server gives; the request's ``id`` is echoed."""
    request_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    return {"jsonrpc": "2.0", "id": request_id, "result": True}
