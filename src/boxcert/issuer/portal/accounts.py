"""The portal's accounts and sessions, for :mod:`boxcert.web`.

:class:`PortalAccounts` is the site's :class:`~boxcert.web.Accounts`: customers log in with
their e-mail address and password (scrypt, :mod:`boxcert.secrets`); an account sees the
subscriptions the vendor linked to it. Each login and each failed login for a known account is
announced (:class:`~boxcert.issuer.events.PortalLogin`, hence audited); a failure for an
unknown name is announced without the name typed (it may be a password typed in the wrong box).

:class:`SqlSessionStore` keeps logged-in sessions in the issuer's database, keyed by the
SHA-256 of the cookie, so every issuer behind a load balancer knows every session.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from boxcert import secrets
from boxcert.clock import Clock, system_clock
from boxcert.issuer.errors import InvalidValue
from boxcert.issuer.events import EventBus, PortalLogin
from boxcert.issuer.store import portal
from boxcert.issuer.store.rows import AccountRow
from boxcert.web import Account
from boxcert.web.sessions import Session as WebSession

MIN_PASSWORD_CHARS = 10
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidValue(f"not an e-mail address: {email[:80]!r}")
    return email


def stamp_of(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidValue(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    return secrets.hash_secret(password)


class PortalAccounts:
    def __init__(
        self, sessions: sessionmaker[Session], events: EventBus, clock: Clock = system_clock
    ) -> None:
        self.sessions = sessions
        self.events = events
        self.clock = clock

    def authenticate(self, username: str, password: str) -> Account | None:
        try:
            email = normalize_email(username)
        except InvalidValue:
            email = ""
        with self.sessions.begin() as session:
            row = portal.account_by_email(session, email) if email else None
        if row is None:
            secrets.burn_time()
            self.events.publish(PortalLogin(self.clock(), "", ok=False))
            return None
        ok = secrets.verify_secret(password, row.password_hash)
        self.events.publish(PortalLogin(self.clock(), row.email, ok=ok))
        return Account(str(row.id), stamp_of(row.password_hash)) if ok else None

    def stamp(self, account_id: str) -> str | None:
        row = self.account(account_id)
        return stamp_of(row.password_hash) if row is not None else None

    def account(self, account_id: str | None) -> AccountRow | None:
        if account_id is None or not account_id.isdigit():
            return None
        with self.sessions.begin() as session:
            return portal.account_by_id(session, int(account_id))


class SqlSessionStore:
    """:class:`boxcert.web.SessionStore` in the issuer's database (quick indexed statements)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, key: str) -> WebSession | None:
        with self.sessions.begin() as session:
            row = portal.get_session(session, key)
        if row is None:
            return None
        return WebSession(row.account_id, row.stamp, row.created_at, row.last_seen)

    def put(self, key: str, session: WebSession) -> None:
        with self.sessions.begin() as s:
            portal.put_session(
                s, key, session.account_id, session.stamp, session.created_at, session.last_seen
            )

    def delete(self, key: str) -> None:
        with self.sessions.begin() as session:
            portal.delete_session(session, key)

    def purge(self, idle_before: datetime) -> None:
        with self.sessions.begin() as session:
            portal.purge_sessions(session, idle_before)
