"""Admin API tokens: a public id, a name, the scrypt hash of the secret (never the secret)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from boxcert.issuer.errors import AlreadyExists, NotFound
from boxcert.issuer.models import ApiToken
from boxcert.issuer.store.rows import TokenRow


def _row(t: ApiToken) -> TokenRow:
    return TokenRow(t.id, t.name, t.secret_hash, t.created_at, t.last_used_at)


def add_token(
    session: Session, token_id: str, name: str, secret_hash: str, now: datetime
) -> TokenRow:
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise AlreadyExists(f"a token named {name!r} exists; remove it first")
    token = ApiToken(id=token_id, name=name, secret_hash=secret_hash, created_at=now)
    session.add(token)
    session.flush()
    return _row(token)


def token_by_id(session: Session, token_id: str) -> TokenRow | None:
    token = session.get(ApiToken, token_id)
    return _row(token) if token is not None else None


def touch(session: Session, token_id: str, now: datetime) -> None:
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now


def list_tokens(session: Session) -> list[TokenRow]:
    return [_row(t) for t in session.scalars(select(ApiToken).order_by(ApiToken.created_at))]


def remove_token(session: Session, name: str) -> None:
    if session.execute(delete(ApiToken).where(ApiToken.name == name)).rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no token named {name!r}")
