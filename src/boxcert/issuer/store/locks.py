"""Rows of ``issuance_locks``: who orders for which holder, until when (see
:mod:`boxcert.issuer.locks` for the waiting and the contract)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from boxcert.issuer.models import IssuanceLock


def take(session: Session, name: str, owner: str, now: datetime, expires: datetime) -> None:
    """Take ``name`` for ``owner``, clearing an expired holder first; the transaction fails
    with IntegrityError when someone else holds it."""
    session.execute(
        delete(IssuanceLock).where(IssuanceLock.name == name, IssuanceLock.expires_at < now)
    )
    session.add(IssuanceLock(name=name, owner=owner, expires_at=expires))
    session.flush()


def release(session: Session, name: str, owner: str) -> None:
    session.execute(
        delete(IssuanceLock).where(IssuanceLock.name == name, IssuanceLock.owner == owner)
    )
