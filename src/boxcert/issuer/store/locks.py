"""Rows of ``issuance_locks``: who orders for which holder, until when (see
:mod:`boxcert.issuer.locks` for the waiting and the contract). Statements built once (see
:mod:`.boxes`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert
from sqlalchemy.orm import Session

from boxcert.issuer.models import IssuanceLock
from boxcert.issuer.store import core

_EXPIRED = delete(IssuanceLock).where(
    IssuanceLock.name == bindparam("name"), IssuanceLock.expires_at < bindparam("now")
)
_TAKE = insert(IssuanceLock)
_RELEASE = delete(IssuanceLock).where(
    IssuanceLock.name == bindparam("name"), IssuanceLock.owner == bindparam("owner")
)


def take(session: Session, name: str, owner: str, now: datetime, expires: datetime) -> None:
    """Take ``name`` for ``owner``, clearing an expired holder first; the transaction fails
    with IntegrityError when someone else holds it."""
    connection = core.connection(session)
    connection.execute(_EXPIRED, {"name": name, "now": now})
    connection.execute(_TAKE, {"name": name, "owner": owner, "expires_at": expires})


def release(session: Session, name: str, owner: str) -> None:
    core.connection(session).execute(_RELEASE, {"name": name, "owner": owner})
