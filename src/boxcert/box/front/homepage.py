"""What the homepage says, as data: a pure function of the agent's status, the pair the front
serves, how the page was reached and the time. The template only lays it out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from boxcert import codes
from boxcert.box.front.backend import FrontStatus
from boxcert.box.front.certswitch import ServedPair
from boxcert.box.hublink import LinkState
from boxcert.box.status import CertificateInfo, CertState
from boxcert.codes import ErrorCode
from boxcert.wire.refusals import REFUSALS, RefusalMeaning


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
    plain_http: bool
    credentials_hint: bool  # the remedy is on the credentials page
    hub: LinkState
    refusal: RefusalMeaning | None = None  # the issuer's stated reason, in our words
    still_serving: str = ""  # on an error: until when the certificate in use stays valid


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
        plain_http=scheme != "https",
        credentials_hint=status.error is not None and status.error.code in CREDENTIAL_CODES,
        hub=view.hub.state,
        refusal=REFUSALS[status.refusal] if status.refusal is not None else None,
        still_serving=_still_serving(status.state, served, now),
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
