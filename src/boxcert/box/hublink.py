"""The box's link to its hub: pairing by one-time token, and what the reports learnt.

Pairing (:func:`pair_with_hub`): parse the token, ask the hub it names
(:func:`boxcert.box.hubclient.connect`), and return the settings to store — the server URL
(the hub), the database UUID, the contract code, the issuer's URL, the box's own hub secret,
and the identifier, name and hub CA used — with the zone the hub announced apart: it is the
issuer's zone as the hub learnt it, kept as what the box knows of its issuer until the issuer
itself says (:mod:`boxcert.box.issuerinfo`), never as the box's zone override. Nothing is
written here: the caller saves the changes in one step (``BoxAgent.pair``), so a refused,
expired, used, unknown or malformed token changes nothing on the box.

What the reporter learnt lives in ``<home>/hub.json`` (:class:`ReportLog`): when the hub last
accepted a report, the last failure, and the id of a box secret the hub no longer knows (it
answered 401: the box was forgotten). :func:`link_of` turns settings and log into the
:class:`HubLink` shown by ``box status`` and the homepage: not paired, paired, or unpaired (a
new pairing, which brings a new secret, makes it paired again).

:func:`status_document` is the one ``status --json`` / ``/status.json`` object: the certificate
status and the hub link, no secret in either.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boxcert.box import hubclient
from boxcert.box.config import BoxConfig
from boxcert.box.errors import BoxError
from boxcert.box.files import SMALL_FILE_BYTES, BoxPaths, read_optional, write_file
from boxcert.box.status import BoxStatus
from boxcert.wire import parse_timestamp, printable
from boxcert.wire.hub import BoxSecret, MalformedToken, PairingToken
from boxcert.wire.x509 import WireError

log = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    NONE = "none"  # never paired: no hub secret
    PAIRED = "paired"
    UNPAIRED = "unpaired"  # the hub forgot this box (401); pair it again


@dataclass(frozen=True, slots=True)
class ReportLog:
    """The content of ``hub.json``."""

    forgotten_secret_id: str = ""
    last_report_at: datetime | None = None
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        at = self.last_report_at
        return {
            "forgotten_secret_id": self.forgotten_secret_id,
            "last_report_at": None if at is None else at.isoformat(),
            "last_error": self.last_error,
        }


def load_log(paths: BoxPaths) -> ReportLog:
    """What the reports learnt; a fresh log when the file is missing or damaged (it only
    remembers, so losing it costs one report at most)."""
    try:
        raw = json.loads(read_optional(paths.hub_state, SMALL_FILE_BYTES) or b"{}")
    except (BoxError, ValueError, RecursionError):
        return ReportLog()
    if not isinstance(raw, dict):
        return ReportLog()
    forgotten = raw.get("forgotten_secret_id")
    error = raw.get("last_error")
    return ReportLog(
        forgotten_secret_id=forgotten if isinstance(forgotten, str) else "",
        last_report_at=parse_timestamp(raw.get("last_report_at")),
        last_error=printable(error) if isinstance(error, str) else "",
    )


def save_log(paths: BoxPaths, report_log: ReportLog) -> None:
    """Raises BoxFileError when it cannot be written."""
    data = json.dumps(report_log.to_json(), indent=2).encode() + b"\n"
    write_file(paths.hub_state, data, 0o600)


@dataclass(frozen=True, slots=True)
class HubLink:
    state: LinkState
    server: str = ""
    last_report_at: datetime | None = None
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        at = self.last_report_at
        # Not the server's URL: it is one of the credentials, shown only after the box login.
        return {
            "state": self.state.value,
            "last_report_at": None if at is None else at.isoformat(),
            "last_error": self.last_error,
        }


def secret_id(config: BoxConfig) -> str:
    """The id of the box's hub secret (validated when the settings were loaded), or ""."""
    return BoxSecret.parse(config.hub_secret).secret_id if config.hub_secret else ""


def link_of(config: BoxConfig, report_log: ReportLog) -> HubLink:
    if not config.hub_secret or not config.server:
        return HubLink(LinkState.NONE, config.server)
    forgotten = report_log.forgotten_secret_id == secret_id(config)
    return HubLink(
        LinkState.UNPAIRED if forgotten else LinkState.PAIRED,
        config.server,
        report_log.last_report_at,
        report_log.last_error,
    )


def status_document(status: BoxStatus, link: HubLink) -> dict[str, Any]:
    """The ``box status --json`` object (and the front's ``/status.json``): no secrets."""
    return {**status.to_json(), "hub": link.to_json()}


def default_identifier() -> str:
    """The machine's MAC address when it has one, else a random name (stored at pairing, so
    it stays)."""
    node = uuid.getnode()
    if not (node >> 40) & 1:  # the multicast bit marks a random stand-in for a MAC
        return ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))
    return f"box-{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Pairing:
    """What a pairing gave: the settings to save, and the zone the hub announced."""

    changes: dict[str, Any]
    zone: str


def pair_with_hub(
    config: BoxConfig,
    token_text: str,
    *,
    name: str | None = None,
    hub_ca: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Pairing:
    """Pair with the hub the token names (see the module docstring).

    Raises :class:`~boxcert.box.hubclient.PairingError` with one line; writes nothing.
    """
    try:
        token = PairingToken.parse(token_text.strip())
    except MalformedToken as err:
        raise hubclient.PairingError(str(err)) from err
    identifier = config.identifier or default_identifier()
    name = config.name if name is None else name
    ca_file = config.hub_ca if hub_ca is None else hub_ca
    try:
        answer = hubclient.connect(token, identifier, name, ca_file=ca_file, environ=environ)
    except WireError as err:  # a name the hub refuses to carry
        raise hubclient.PairingError(str(err)) from err
    log.info("paired with the hub at %s as %s", answer.server_url, identifier)
    changes = {
        "server": answer.server_url,
        "db_uuid": answer.db_uuid,
        "enterprise_code": answer.enterprise_code,
        "issuer": answer.issuer_url,
        "hub_secret": answer.box_secret.encode(),
        "identifier": identifier,
        "name": name,
        "hub_ca": ca_file,
    }
    return Pairing(changes, answer.zone)
