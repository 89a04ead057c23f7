"""What the homepage says, as data: a pure function of the agent's status, the pair the front
serves, how the page was reached and the time. The template only lays it out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from boxcert.box.front.backend import CertificateView, CertState, StatusView
from boxcert.box.front.certswitch import ServedPair
from boxcert.codes import ErrorCode
from boxcert.wire.refusals import RefusalMeaning, meaning_of


class Verdict(enum.StrEnum):
    """The headline of the "HTTPS certificate" row, and its colour in the stylesheet."""

    OK = "ok"
    PENDING = "pending"  # no usable certificate yet, none failed: one is being obtained
    ERROR = "error"


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
    plain_http: bool
    credentials_hint: bool  # the remedy is on the credentials page
    refusal: RefusalMeaning | None = None  # the issuer's stated reason, in our words
    still_serving: str = ""  # on an error: until when the certificate in use stays valid


CREDENTIAL_CODES = ("ERR_IOT_HTTPS_CHECK_NO_SERVER", "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL")


def days_left(until: datetime, now: datetime) -> int:
    """Whole days until ``until``; 0 on its last day, negative once past."""
    return (until - now).days


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def certificate_rows(cert: CertificateView, now: datetime) -> tuple[DetailRow, ...]:
    left = days_left(cert.valid_until, now)
    rows = [
        DetailRow("Subject", cert.subject),
        DetailRow("Names", ", ".join(cert.names) or "(none)"),
        DetailRow("Issuer", cert.issuer),
        DetailRow("Valid from", _day(cert.valid_from)),
        DetailRow("Valid until", _day(cert.valid_until)),
        DetailRow("Days left", str(left) if left >= 0 else "expired"),
    ]
    if cert.renew_at is not None:
        rows.append(DetailRow("Renewal from", _day(cert.renew_at)))
    rows.append(DetailRow("SHA-256 fingerprint", cert.fingerprint_sha256, mono=True))
    return tuple(rows)


def box_host(url: str) -> str:
    """The host part of the box's URL (its name), or empty."""
    return urlsplit(url).hostname or "" if url else ""


def home_model(status: StatusView, served: ServedPair, *, scheme: str, now: datetime) -> HomeModel:
    cert = status.certificate
    rows = certificate_rows(cert, now) if cert is not None else ()
    if status.state is CertState.OK:
        verdict, headline = Verdict.OK, "OK"
    elif status.state is CertState.ERROR:
        verdict = Verdict.ERROR
        headline = status.error.title if status.error is not None else "Error"
    else:
        verdict, headline = Verdict.PENDING, "Not ready yet"
    return HomeModel(
        verdict=verdict,
        headline=headline,
        url=status.url,
        detail=status.detail,
        error=status.error,
        shown_code=status.shown_code,
        certificate_rows=rows,
        checking=status.checking,
        placeholder_served=served.placeholder,
        plain_http=scheme != "https",
        credentials_hint=status.error is not None and status.error.code in CREDENTIAL_CODES,
        refusal=meaning_of(status.refusal) if status.refusal else None,
        still_serving=_still_serving(status, served, now),
    )


def _still_serving(status: StatusView, served: ServedPair, now: datetime) -> str:
    """On an error, a reassurance when a trusted certificate still serves."""
    if status.state is not CertState.ERROR or not served.trusted(now):
        return ""
    left = days_left(served.not_after, now)
    return (
        f"The certificate in use stays valid until {served.not_after:%Y-%m-%d} "
        f"({left} day{'s' if left != 1 else ''}); the box keeps trying to renew it."
    )
