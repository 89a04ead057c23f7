"""``boxcert box check-connection``: can the box reach what it depends on, right now?

Two probes, each one request over verified TLS (plain http only to this machine), nothing
written, nothing secret sent:

- the **issuer**: ``GET <issuer>/iot/info`` — reached, its zone (and whether the box's zone
  override agrees), its clock against the box's;
- the **hub** (the box's server): ``GET <server>/healthz`` — any HTTP answer means the box
  reaches it over a TLS connection it trusts (the box's reports go to the same place).

Each probe says what works or what failed, with the advice that fits (an untrusted
certificate names ``--issuer-ca``/``--hub-ca``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boxcert.box import advice
from boxcert.box.config import BoxConfig
from boxcert.box.deadline import Deadline
from boxcert.box.diagnosis.clock import judge
from boxcert.box.errors import FailureKind, LoadError
from boxcert.box.issuerinfo import read_info, zone_mismatch
from boxcert.box.transport import ExchangeFailed, get, tls_context
from boxcert.clock import Clock
from boxcert.wire.hub import check_transport
from boxcert.wire.x509 import WireError

PROBE_DEADLINE = 15.0
HUB_HEALTH_PATH = "/healthz"


@dataclass(frozen=True, slots=True)
class Probe:
    what: str  # "issuer" or "hub"
    url: str
    ok: bool
    detail: str
    advice: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "url": self.url,
            "ok": self.ok,
            "detail": self.detail,
            "advice": self.advice or None,
        }


def check_issuer(
    config: BoxConfig, *, clock: Clock, environ: Mapping[str, str] = os.environ
) -> Probe:
    if not config.issuer:
        return Probe(
            "issuer",
            "",
            False,
            "no certificate service is configured",
            "boxcert box configure --issuer URL, or pair the box with its hub",
        )
    started = time.perf_counter()
    try:
        info = read_info(
            config.issuer, config.issuer_ca, clock=clock, deadline=PROBE_DEADLINE, environ=environ
        )
    except LoadError as err:
        hint = advice.ADVICE[err.advice] if err.advice is not None else ""
        if err.failure is FailureKind.TLS_DATES:
            hint = "Check the box's clock (boxcert box status shows what it found)."
        return Probe("issuer", config.issuer, False, err.detail, hint)
    seconds = time.perf_counter() - started
    parts = [f"answered in {seconds:.2f} s"]
    ok = True
    hint = ""
    if info.facts is None:
        parts.append("it announces no zone (the box uses its own setting)")
    else:
        parts.append(f"zone {info.facts.zone}")
        mismatch = zone_mismatch(config, info.facts)
        if mismatch is not None:
            ok = False
            parts.append(mismatch.detail)
            hint = mismatch.code.remedy
    if info.date is not None:
        check = judge([info.date])
        parts.append(check.summary.rstrip(".").replace("The box's clock", "the box's clock"))
        if check.wrong:
            ok = False
            hint = hint or "Set the box's clock right (boxcert box configure --ntp-server HOST)."
    return Probe("issuer", config.issuer, ok, "; ".join(parts), hint)


def check_hub(config: BoxConfig, *, environ: Mapping[str, str] = os.environ) -> Probe:
    if not config.server:
        return Probe(
            "hub",
            "",
            False,
            "no server (hub) is configured",
            "pair the box: boxcert box connect TOKEN",
        )
    url = config.server.rstrip("/") + HUB_HEALTH_PATH
    try:
        check_transport(config.server, "the server's address")
        context = tls_context(config.hub_ca)
    except (WireError, ValueError) as err:
        return Probe("hub", config.server, False, str(err))
    started = time.perf_counter()
    try:
        answer = get(url, context=context, deadline=Deadline(PROBE_DEADLINE), environ=environ)
    except ExchangeFailed as err:
        hint = ""
        if err.kind is FailureKind.TLS_UNTRUSTED:
            hint = (
                "The hub's TLS certificate comes from an authority this box does not trust: "
                "pair again with `boxcert box connect TOKEN --hub-ca FILE`."
            )
        return Probe("hub", config.server, False, str(err), hint)
    seconds = time.perf_counter() - started
    return Probe("hub", config.server, True, f"answered HTTP {answer.status} in {seconds:.2f} s")
