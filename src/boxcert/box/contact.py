"""Before the box asks the issuer anything: read its public facts and check the box's clock.

:func:`look` is one round of the agent's first step with the issuer: ``GET /iot/info`` over
verified TLS (the zone, saved in ``issuer.json``; the issuer's ``Date``), the NTP server when
one is set, and — only when verified TLS failed on certificate dates — the unverified ``Date``
as a hint. The readings are judged (:func:`boxcert.box.diagnosis.clock.judge`) and the
judgement saved in ``clock.json``. Nothing here decides about certificates: the agent does,
with :func:`boxcert.box.clockstate.decision_time`.

A source that does not answer keeps what was known before (the last zone, the last
judgement); the failure to read the issuer is handed back for the agent to show when it
needed the issuer.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from boxcert.box.clockstate import ClockState, load_clock, save_clock
from boxcert.box.config import BoxConfig
from boxcert.box.diagnosis.clock import Reading, judge
from boxcert.box.diagnosis.clock_probe import TimeSourceError, sntp
from boxcert.box.errors import BoxError, FailureKind, LoadError
from boxcert.box.files import BoxPaths
from boxcert.box.issuerinfo import (
    IssuerFacts,
    date_hint,
    load_facts,
    read_info,
    save_facts,
)
from boxcert.clock import Clock
from boxcert.hostport import parse_host_port

log = logging.getLogger(__name__)

# (endpoint, seconds, answered) for the issuer request latency metric
RequestTimer = Callable[[str, float, bool], None]


def _no_timer(endpoint: str, seconds: float, answered: bool) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Contact:
    facts: IssuerFacts | None  # what the box knows of its issuer now
    clock: ClockState | None  # the judgement of the box's clock now
    failure: LoadError | None = None  # the issuer could not be read


def read_ntp(server: str, clock: Clock) -> Reading | None:
    """One SNTP reading from ``HOST[:PORT]``; None (logged) when it gives none."""
    try:
        host, port = parse_host_port(server, 123)
        return sntp((host, port), clock=clock)
    except (ValueError, TimeSourceError, OSError) as err:
        log.info("no time from the NTP server %s: %s", server, err)
        return None


def look(
    paths: BoxPaths,
    config: BoxConfig,
    *,
    clock: Clock,
    environ: Mapping[str, str] = os.environ,
    timed: RequestTimer = _no_timer,
) -> Contact:
    """Read the issuer's facts and the time sources once (see the module docstring)."""
    readings: list[Reading] = []
    failure: LoadError | None = None
    facts = load_facts(paths)
    if config.ntp_server:
        ntp = read_ntp(config.ntp_server, clock)
        if ntp is not None:
            readings.append(ntp)
    started = time.perf_counter()
    try:
        info = read_info(config.issuer, config.issuer_ca, clock=clock, environ=environ)
    except LoadError as err:
        timed("info", time.perf_counter() - started, False)
        failure = err
        log.info("could not read the certificate service's facts: %s", err.detail)
        if err.failure is FailureKind.TLS_DATES:
            hint = date_hint(config.issuer, clock=clock, environ=environ)
            if hint is not None:
                readings.append(hint)
    else:
        timed("info", time.perf_counter() - started, True)
        if info.date is not None:
            readings.append(info.date)
        learnt = info.facts
        if learnt is not None:
            if facts is None or (facts.issuer, facts.zone) != (learnt.issuer, learnt.zone):
                log.info("the certificate service %s issues in zone %s", learnt.issuer, learnt.zone)
            facts = learnt
            _keep(lambda: save_facts(paths, learnt))
    state = load_clock(paths)
    if readings:
        state = ClockState(judge(readings), clock())
        saved = state
        _keep(lambda: save_clock(paths, saved))
    return Contact(facts, state, failure)


def _keep(write: Callable[[], None]) -> None:
    """Write a memory file; one that cannot be written costs a request later, nothing more."""
    try:
        write()
    except BoxError as err:
        log.warning("%s", err)
