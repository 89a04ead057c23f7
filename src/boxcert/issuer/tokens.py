"""Admin API tokens: ``bxa1.<id>.<secret>``, made by ``boxcert issuer token add``, shown once.

The issuer keeps the id (public, the lookup key), the token's name (the actor the audit log
shows) and a scrypt hash of the secret (:mod:`boxcert.secrets`, at the cost for 256-bit
machine secrets). A request presents the token as ``Authorization: Bearer bxa1.…``; an unknown
id costs the same hash as a wrong secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from boxcert import secrets
from boxcert.clock import Clock
from boxcert.issuer.store import tokens
from boxcert.issuer.store.rows import TokenRow

PREFIX = "bxa1"
_TOKEN = re.compile(r"^bxa1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class NewToken:
    name: str
    text: str  # the whole token, shown once


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("a token name is 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def make(session: Session, name: str, clock: Clock) -> NewToken:
    """Store a new token named ``name``; its text is returned once and never stored."""
    token_id, secret = secrets.new_token(12), secrets.new_token(32)
    tokens.add_token(
        session,
        token_id,
        check_name(name),
        secrets.hash_secret(secret, secrets.TOKEN_COST),
        clock(),
    )
    return NewToken(name, f"{PREFIX}.{token_id}.{secret}")


def authenticate(session: Session, authorization: str | None, clock: Clock) -> TokenRow | None:
    """The token a request's ``Authorization`` header presents, when it is valid."""
    scheme, _, value = (authorization or "").partition(" ")
    match = _TOKEN.match(value.strip()) if scheme.lower() == "bearer" else None
    if match is None:
        return None
    token_id, secret = match.groups()
    row = tokens.token_by_id(session, token_id)
    if row is None:
        secrets.burn_time(secrets.TOKEN_COST)
        return None
    if not secrets.verify_secret(secret, row.secret_hash):
        return None
    now = clock()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        tokens.touch(session, token_id, now)
    return row
