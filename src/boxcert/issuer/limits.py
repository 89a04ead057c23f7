"""Limits on ordering from the CA: the CA's own "not now", and our weekly cap.

Policy, pure and tested against tables:

- :func:`pause_end` — how long a CA's rate limit stops orders for a registered domain: until
  its Retry-After (a minute at least), an hour when it gives none;
- :func:`cap_refusal` — our cap on *new* certificates per registered domain and 7 days
  (renewals are exempt, as public CAs exempt them), for CAs whose ``limits_per_domain`` says
  they count.

Mechanism: :class:`OrderLimits` reads and writes the pauses in the database, so every issuer on
one database honours a pause another one was told about, and announces :class:`CaPaused`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.ca import CertificateAuthority
from boxcert.issuer.config import IssuerSettings
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import RateLimited, Refusal
from boxcert.issuer.events import CaPaused, EventBus
from boxcert.issuer.store import certificates, pauses
from boxcert.wire import RefusalCode

log = logging.getLogger(__name__)
CAP_PERIOD = timedelta(days=7)
DEFAULT_PAUSE = timedelta(hours=1)
MIN_PAUSE = timedelta(minutes=1)


def pause_end(retry_after: datetime | None, now: datetime) -> datetime:
    """When orders may resume after a CA's rate limit: its Retry-After (a minute at least, so
    a date in the past does not let every box hammer it), else an hour."""
    if retry_after is None:
        return now + DEFAULT_PAUSE
    return max(retry_after, now + MIN_PAUSE)


def paused_refusal(until: datetime) -> Refusal:
    return Refusal(
        RefusalCode.CA_RATE_LIMITED,
        "The certificate authority asked us to slow down. Retry after "
        f"{until.isoformat(timespec='seconds')}.",
    )


def cap_refusal(first_certificates: int, cap: int, domain: str) -> Refusal | None:
    """Our weekly cap: a refusal once ``cap`` first certificates were issued in 7 days."""
    if cap <= 0 or first_certificates < cap:
        return None
    return Refusal(
        RefusalCode.CA_RATE_LIMITED,
        f"{first_certificates} certificates were issued for {domain} in the last 7 days, our "
        f"cap is {cap}. Retry in a day.",
    )


class OrderLimits:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        settings: IssuerSettings,
        events: EventBus,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.ca = ca
        self.settings = settings
        self.events = events
        self.clock = clock

    async def check(self, domain: str, *, renewal: bool) -> None:
        """Raise the Refusal that stops an order for ``domain`` now, if any."""
        found = await run_in_session(self.sessions, lambda s: self.read(s, domain, renewal))
        self.judge(found, domain, renewal=renewal)

    def read(self, session: Session, domain: str, renewal: bool) -> tuple[datetime | None, int]:
        """What :meth:`judge` needs (in a caller's transaction): the pause, the week's count."""
        counted = self.ca.limits_per_domain and not renewal
        cap = self.settings.weekly_cap_per_domain
        until = pauses.paused_until(session, self.ca.name, domain)
        since = self.clock() - CAP_PERIOD
        issued = (
            certificates.first_certificates_since(session, domain, self.ca.name, since)
            if counted and cap > 0
            else 0
        )
        return until, issued

    def judge(self, found: tuple[datetime | None, int], domain: str, *, renewal: bool) -> None:
        """Raise the Refusal that stops an order, from what :meth:`read` found."""
        until, issued = found
        if until is not None and self.clock() < until:
            raise paused_refusal(until)
        counted = self.ca.limits_per_domain and not renewal
        refusal = (
            cap_refusal(issued, self.settings.weekly_cap_per_domain, domain) if counted else None
        )
        if refusal is not None:
            raise refusal

    async def paused(self, domain: str, err: RateLimited) -> Refusal:
        """Record the CA's "not now" for ``domain``; the refusal to give the box."""
        now = self.clock()
        until = pause_end(err.retry_after, now)
        reason = str(err)[:500]
        ca_name = self.ca.name
        await run_in_session(
            self.sessions, lambda s: pauses.pause(s, ca_name, domain, until, reason)
        )
        log.warning("CA rate limit for %s until %s: %s", domain, until.isoformat(), reason)
        self.events.publish(CaPaused(now, ca_name, domain, until, reason))
        return paused_refusal(until)
