"""CA pauses: after a CA's "rate limited, retry after T", no issuer orders for that registered
domain from that CA before T. Kept in the database so every issuer of a cluster honours it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer.models import CaPause
from boxcert.issuer.store import core

_UNTIL = select(CaPause.until).where(
    CaPause.ca_name == bindparam("ca"), CaPause.registered_domain == bindparam("domain")
)


def paused_until(session: Session, ca_name: str, registered_domain: str) -> datetime | None:
    found: datetime | None = (
        core.connection(session)
        .execute(_UNTIL, {"ca": ca_name, "domain": registered_domain})
        .scalar()
    )
    return found


def pause(
    session: Session, ca_name: str, registered_domain: str, until: datetime, reason: str
) -> None:
    """Record a pause; an existing one is replaced by the later of the two."""
    for _ in range(2):
        existing = session.get(CaPause, (ca_name, registered_domain))
        if existing is not None:
            if until > existing.until:
                existing.until = until
                existing.reason = reason
            return
        try:
            with session.begin_nested():
                session.add(
                    CaPause(
                        ca_name=ca_name,
                        registered_domain=registered_domain,
                        until=until,
                        reason=reason,
                    )
                )
            return
        except IntegrityError:
            continue  # another issuer recorded one first: compare with theirs
