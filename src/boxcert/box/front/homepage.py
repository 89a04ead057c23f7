"""What the homepage says, as data: a pure function of the agent's status, the pair the front
serves, the DNS diagnosis, how the page was reached and the time. The template only lays it
out.

Three rows: the HTTPS certificate (the status's error with the words of
:func:`boxcert.box.advice.explain`), DNS (the box's own diagnosis, :class:`DnsRow`) and the hub.
When the page is opened by IP address over plain HTTP, :func:`browser_check` adds what the
page's small script needs to try the box's name from the visitor's own device
(:class:`BrowserCheck`): the box cannot see the resolver of the phone that opens it; the
browser can.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from boxcert import codes, naming
from boxcert.box.advice import explain
from boxcert.box.dnscheck import DnsView, help_url
from boxcert.box.front.backend import FrontStatus
from boxcert.box.front.certswitch import ServedPair
from boxcert.box.hublink import LinkState
from boxcert.box.status import CertificateInfo, CertState
from boxcert.codes import ErrorCode


class Verdict(enum.StrEnum):
    """The headline of the "HTTPS certificate" row."""

    OK = "ok"
    PENDING = "pending"  # no usable certificate yet, none failed: one is being obtained
    ERROR = "error"

    @property
    def badge(self) -> str:
        """The shared stylesheet's badge class."""
        return {"ok": "ok", "pending": "warn", "error": "bad"}[self.value]


@dataclass(frozen=True, slots=True)
class DetailRow:
    label: str
    value: str
    mono: bool = False


@dataclass(frozen=True, slots=True)
class HomeModel:
    verdict: Verdict
    headline: str
    url: str  # the box's address by name; empty while unknown
    detail: str
    error: ErrorCode | None
    shown_code: str | None
    certificate_rows: tuple[DetailRow, ...]
    checking: bool
    placeholder_served: bool
    trusted_served: bool  # the pair served is one browsers trust
    plain_http: bool
    credentials_hint: bool  # the remedy is on the credentials page
    hub: LinkState
    cause: str = ""  # what happened, in words fitted to the cause (boxcert.box.advice)
    remedy: str = ""  # what to do, likewise
    reason: str = ""  # the issuer's stated reason, in our words, for a refusal
    still_serving: str = ""  # on an error: until when the certificate in use stays valid
    hook_failed: str = ""  # the last deploy hook failed: what it said


CREDENTIAL_CODES = (codes.CHECK_NO_SERVER.code, codes.LOAD_NO_CREDENTIAL.code)


def days_left(until: datetime, now: datetime) -> int:
    """Whole days until ``until``; 0 on its last day, negative once past."""
    return (until - now).days


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def certificate_rows(
    cert: CertificateInfo, renew_at: datetime | None, now: datetime
) -> tuple[DetailRow, ...]:
    left = days_left(cert.not_after, now)
    rows = [
        DetailRow("Subject", cert.subject_cn),
        DetailRow("Names", ", ".join(cert.sans) or "(none)"),
        DetailRow("Issuer", cert.issuer),
        DetailRow("Valid from", _day(cert.not_before)),
        DetailRow("Valid until", _day(cert.not_after)),
        DetailRow("Days left", str(left) if left >= 0 else "expired"),
    ]
    if renew_at is not None:
        rows.append(DetailRow("Renewal from", _day(renew_at)))
    rows.append(DetailRow("SHA-256 fingerprint", cert.fingerprint_sha256, mono=True))
    return tuple(rows)


def box_host(url: str | None) -> str:
    """The host part of the box's URL (its name), or empty."""
    return urlsplit(url).hostname or "" if url else ""


def home_model(view: FrontStatus, served: ServedPair, *, scheme: str, now: datetime) -> HomeModel:
    status = view.box
    cert = status.certificate
    rows = certificate_rows(cert, status.renew_at, now) if cert is not None else ()
    if status.state is CertState.OK:
        verdict, headline = Verdict.OK, "OK"
    elif status.state is CertState.ERROR:
        verdict = Verdict.ERROR
        headline = status.error.title if status.error is not None else "Error"
    else:
        verdict, headline = Verdict.PENDING, "Not ready yet"
    words = explain(status)
    hook = status.hook
    return HomeModel(
        verdict=verdict,
        headline=headline,
        url=status.url or "",
        detail=status.detail,
        error=status.error,
        shown_code=status.error_code,
        certificate_rows=rows,
        checking=view.checking,
        placeholder_served=served.placeholder,
        trusted_served=served.trusted(now),
        plain_http=scheme != "https",
        credentials_hint=status.error is not None and status.error.code in CREDENTIAL_CODES,
        hub=view.hub.state,
        cause=words.cause if words else "",
        remedy=words.remedy if words else "",
        reason=words.reason if words else "",
        still_serving=_still_serving(status.state, served, now),
        hook_failed=hook.detail if hook is not None and not hook.ok else "",
    )


def _still_serving(state: CertState, served: ServedPair, now: datetime) -> str:
    """On an error, a reassurance when a trusted certificate still serves."""
    if state is not CertState.ERROR or not served.trusted(now):
        return ""
    left = days_left(served.not_after, now)
    return (
        f"The certificate in use stays valid until {served.not_after:%Y-%m-%d} "
        f"({left} day{'s' if left != 1 else ''}); the box keeps trying to renew it."
    )


class DnsState(enum.StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    PENDING = "pending"  # being looked up for the first time
    NO_NAME = "no_name"  # the box has no key yet, so no name

    @property
    def badge(self) -> str:
        return {"ok": "ok", "problem": "bad", "pending": "none", "no_name": "none"}[self.value]


@dataclass(frozen=True, slots=True)
class DnsRow:
    """The homepage's DNS row, from the box's own diagnosis."""

    state: DnsState
    headline: str
    cause: str = ""
    remedy: str = ""
    detail: str = ""
    help_url: str = ""
    running: bool = False


def dns_row(view: DnsView) -> DnsRow:
    diagnosis = view.diagnosis
    if not view.named:
        return DnsRow(DnsState.NO_NAME, "No name yet")
    if diagnosis is None:
        return DnsRow(DnsState.PENDING, "Checking", running=view.running)
    finding = codes.DNS_FINDINGS[diagnosis.verdict.value]
    title, cause, remedy = finding.render(view.zone)
    return DnsRow(
        DnsState.OK if finding.ok else DnsState.PROBLEM,
        title,
        cause,
        remedy,
        diagnosis.detail[:1].upper() + diagnosis.detail[1:],
        help_url(diagnosis),
        view.running,
    )


@dataclass(frozen=True, slots=True)
class BrowserCheck:
    """What the page's script needs to try the box's name from the visitor's device."""

    name: str  # the box's name for the address the visitor used
    https_probe: str  # https://<name>[:port]/box/ping
    http_probe: str  # http://<name>[:port]/box/ping (plain: resolving and reaching only)
    target: str  # where to go when the secure address works
    trusted: bool  # the served certificate is one browsers trust: the HTTPS try means something
    connect_sources: tuple[str, str]  # the two origins, for the page's CSP
    title: str  # the explanation shown when the name fails (the rebinding finding)
    cause: str
    remedy: str
    explained: bool = False  # the box's own DNS row already says the same: not repeated


def host_ip(host_header: str) -> naming.IPAddress | None:
    """The address in a Host header (``192.168.1.5:8080``, ``[fd00::1]``), or None for a name."""
    host = host_header.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _origin(scheme: str, host: str, port: int, default: int) -> str:
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def browser_check(
    box_url: str,
    host_header: str,
    *,
    scheme: str,
    http_port: int,
    https_port: int,
    trusted: bool,
    zone: str,
    explained: bool = False,
) -> BrowserCheck | None:
    """The check for a page opened by IP over plain HTTP; None otherwise (or without a name).

    The name tried carries the address the visitor used when it is a LAN address (the
    wildcard certificate covers every address), else the box's own.
    """
    ip = host_ip(host_header)
    host = box_host(box_url)
    if scheme != "http" or ip is None or not host:
        return None
    first, _, rest = host.partition(".")
    if naming.is_lan_address(ip) and naming.label_to_ip(first) is not None:
        host = f"{naming.ip_to_label(ip)}.{rest}"
    secure = _origin("https", host, https_port, 443)
    plain = _origin("http", host, http_port, 80)
    title, cause, remedy = codes.DNS_FINDINGS["rebinding_suspected"].render(zone)
    return BrowserCheck(
        name=host,
        https_probe=f"{secure}/box/ping",
        http_probe=f"{plain}/box/ping",
        target=f"{secure}/",
        trusted=trusted,
        connect_sources=(secure, plain),
        title=title,
        cause=cause,
        remedy=remedy,
        explained=explained,
    )
