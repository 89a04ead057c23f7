"""What the issuer says of itself (``GET <issuer>/iot/info``: its zone and API version), and
the box's zone that follows from it.

The box learns its zone from the issuer instead of being told: the names in its certificate
are ``*.<label>.<zone>`` and ``<label>.<zone>``, and only the issuer knows the zone it issues
in. The zone set on the box (``boxcert box configure --zone``) is an override; when it
disagrees with the issuer's, the box says so (``ERR_IOT_HTTPS_LOAD_ZONE_MISMATCH``, both zones
named) instead of sending a CSR the issuer would refuse with an HTTP 400.

The same request gives the issuer's clock (its ``Date`` header, over verified TLS): the box
compares its own clock with it (:mod:`boxcert.box.clockstate`). When verified TLS fails on
certificate dates, :func:`date_hint` repeats the request without verification — it sends
nothing secret, and its answer is used as a hint for the diagnosis and for nothing else.

What was learnt is kept in ``<home>/issuer.json`` for the issuer URL it came from, so ``box
status`` knows the box's names without a request. Until the box has learnt a zone it assumes
:data:`boxcert.naming.DEFAULT_ZONE` (the issuer's own default) for display; nothing is asked
of the issuer before the zone is read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boxcert import codes, naming
from boxcert.box.client import IssuerEndpoint, issuer_tls, no_answer
from boxcert.box.config import BoxConfig, check_zone
from boxcert.box.deadline import Deadline
from boxcert.box.diagnosis.clock import Reading
from boxcert.box.diagnosis.clock_probe import date_reading
from boxcert.box.errors import LoadError
from boxcert.box.files import BoxPaths, load_memory, save_memory
from boxcert.box.transport import ExchangeFailed, get, unverified_context
from boxcert.clock import Clock
from boxcert.wire import parse_timestamp

log = logging.getLogger(__name__)

INFO_PATH = "/iot/info"
INFO_DEADLINE = 15.0  # seconds: one small GET
HINT_DEADLINE = 10.0


@dataclass(frozen=True, slots=True)
class IssuerFacts:
    """The zone an issuer announced, where it was read and when (by the box's clock)."""

    issuer: str  # the issuer URL it was read from
    zone: str
    api_version: int | None
    at: datetime
    source: str = "issuer"  # "issuer", or "hub" when the hub handed it at pairing

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "zone": self.zone,
            "api_version": self.api_version,
            "at": self.at.isoformat(),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, raw: object) -> IssuerFacts | None:
        if not isinstance(raw, dict):
            return None
        issuer, zone, version = raw.get("issuer"), raw.get("zone"), raw.get("api_version")
        at = parse_timestamp(raw.get("at"))
        if not isinstance(issuer, str) or not isinstance(zone, str) or at is None:
            return None
        try:
            zone = check_zone(zone)
        except ValueError:
            return None
        if isinstance(version, bool) or not isinstance(version, int):
            version = None
        source = "hub" if raw.get("source") == "hub" else "issuer"
        return cls(issuer, zone, version, at, source)


@dataclass(frozen=True, slots=True)
class InfoReading:
    """One ``GET /iot/info`` over verified TLS."""

    facts: IssuerFacts | None  # None: no usable document (an issuer without /iot/info)
    date: Reading | None  # the issuer's clock, from the answer's Date header


def _url(issuer: str) -> str:
    return issuer.rstrip("/") + INFO_PATH


def read_info(
    issuer: str,
    ca_file: str,
    *,
    clock: Clock,
    deadline: float = INFO_DEADLINE,
    environ: Mapping[str, str] = os.environ,
) -> InfoReading:
    """Ask the issuer for its facts. LoadError when no answer came (its ``failure`` says why;
    TLS dates: see :func:`date_hint`); any answer gives the issuer's clock, and its facts when
    it is a usable document (an issuer without one is still asked for certificates)."""
    context = issuer_tls(IssuerEndpoint(issuer, ca_file))
    url = _url(issuer)
    sent = clock()
    try:
        answer = get(url, context=context, deadline=Deadline(deadline), environ=environ)
    except ExchangeFailed as err:
        raise no_answer(err) from err
    received = clock()
    date = date_reading(answer.date, sent, received, url, verified=True)
    if answer.status != 200 or answer.content is None:
        # An optional document: an issuer without it is still asked for certificates.
        log.info("%s answered HTTP %d: no zone announced", url, answer.status)
        return InfoReading(None, date)
    facts = _facts(issuer, answer.content, received)
    if facts is None:
        log.info("%s gave no usable zone", url)
    return InfoReading(facts, date)


def _facts(issuer: str, content: bytes, at: datetime) -> IssuerFacts | None:
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None
    zone = body.get("zone") if isinstance(body, dict) else None
    version = body.get("api_version") if isinstance(body, dict) else None
    if not isinstance(zone, str):
        return None
    try:
        normal = check_zone(zone)
    except ValueError:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        version = None
    return IssuerFacts(issuer, normal, version, at)


def date_hint(
    issuer: str,
    *,
    clock: Clock,
    deadline: float = HINT_DEADLINE,
    environ: Mapping[str, str] = os.environ,
) -> Reading | None:
    """The issuer's ``Date`` over TLS *without* verification, as a hint; None when none came.

    Only after verified TLS failed on certificate dates. The request carries nothing secret
    (a GET of a public document, no credentials) and the answer's body is not read for
    anything.
    """
    url = _url(issuer)
    sent = clock()
    try:
        answer = get(
            url, context=unverified_context(), deadline=Deadline(deadline), environ=environ
        )
    except ExchangeFailed as err:
        log.info("no clock hint from %s: %s", url, err)
        return None
    return date_reading(answer.date, sent, clock(), url, verified=False)


def zone_of(config: BoxConfig, facts: IssuerFacts | None) -> str:
    """The box's zone: the override, else the one learnt from its issuer, else the default."""
    if config.zone:
        return config.zone
    if facts is not None and facts.issuer == config.issuer:
        return facts.zone
    return naming.DEFAULT_ZONE


def zone_mismatch(config: BoxConfig, facts: IssuerFacts | None) -> LoadError | None:
    """The error to show when the box's zone override disagrees with its issuer's zone."""
    if not config.zone or facts is None or facts.zone == config.zone:
        return None
    return LoadError(
        codes.LOAD_ZONE_MISMATCH,
        f"the box is set to zone {config.zone}; the certificate service issues in {facts.zone}",
    )


def load_facts(paths: BoxPaths) -> IssuerFacts | None:
    """What was learnt; None when nothing was or the record is damaged (it is read again)."""
    return load_memory(paths.issuer_info, IssuerFacts.from_json)


def save_facts(paths: BoxPaths, facts: IssuerFacts) -> None:
    """Raises BoxFileError when it cannot be written."""
    save_memory(paths.issuer_info, facts.to_json())
