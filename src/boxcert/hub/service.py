"""The hub's core: configuration, pairing by one-time token, box reports, the admin account.

Pairing: ``new_token`` stores a random id with the scrypt hash of a random secret and an
expiry, and returns the token (``bxp1.<hub URL>.<id>.<secret>``) — shown once, never stored.
``connect`` checks, in this order: the hub is configured; the id exists and the secret matches
(else "unknown": a forged token learns nothing more); not used; not expired. Then it marks the
token used with ``UPDATE … WHERE used_at IS NULL`` — of two racing requests only one pairs —
and gives the box its own secret (``bxs1.<id>.<secret>``, also stored hashed). Re-pairing a
known identifier replaces its secret; ``forget`` deletes the box, so its secret stops working.

Every method is synchronous (database, hashing): the HTTP layer runs them in worker threads.
Nothing here logs a token, a secret, a password or the contract code.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from boxcert import secrets
from boxcert.clock import Clock, system_clock
from boxcert.hub import store
from boxcert.hub.errors import BoxRefused, HubError, PairingRefused, UnknownBox
from boxcert.hub.models import BoxKind
from boxcert.hub.store import Key
from boxcert.hub.view import BoxView, box_view
from boxcert.web.auth import Account, check_stored_password, password_stamp
from boxcert.wire.hub import (
    BoxReport,
    BoxSecret,
    ConnectAnswer,
    ConnectRequest,
    LegacyReport,
    PairingRefusal,
    PairingToken,
)
from boxcert.wire.text import is_clean_text, printable

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TOKEN_LIFETIME = timedelta(minutes=15)
MAX_TOKEN_LIFETIME = timedelta(days=7)
TOKEN_KEEP = timedelta(days=30)  # expired tokens are deleted after this
ADMIN = "admin"
MIN_PASSWORD_CHARS = 10
_REQUIRED = (Key.DB_UUID, Key.ENTERPRISE_CODE, Key.ISSUER_URL, Key.ZONE)


@dataclass(frozen=True, slots=True)
class HubConfig:
    """The customer's database identity and where its boxes get certificates."""

    db_uuid: str
    enterprise_code: str
    issuer_url: str
    zone: str

    def __repr__(self) -> str:  # the contract code stays out of tracebacks and logs
        return f"HubConfig(db_uuid={self.db_uuid!r}, issuer_url={self.issuer_url!r}, …)"


class HubService:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def _tx(self, fn: Callable[[Session], T]) -> T:
        with self.sessions.begin() as session:
            return fn(session)

    # --- configuration ------------------------------------------------------------------

    def config(self) -> HubConfig | None:
        values = self._tx(store.settings)
        if not all(values.get(k) for k in _REQUIRED):
            return None
        return HubConfig(
            values[Key.DB_UUID],
            values[Key.ENTERPRISE_CODE],
            values[Key.ISSUER_URL],
            values[Key.ZONE],
        )

    def configure(self, config: HubConfig) -> None:
        def run(session: Session) -> None:
            store.set_setting(session, Key.DB_UUID, config.db_uuid)
            store.set_setting(session, Key.ENTERPRISE_CODE, config.enterprise_code)
            store.set_setting(session, Key.ISSUER_URL, config.issuer_url)
            store.set_setting(session, Key.ZONE, config.zone)

        self._tx(run)

    def public_url(self) -> str | None:
        return self._tx(lambda s: store.get_setting(s, Key.PUBLIC_URL))

    def set_public_url(self, url: str) -> None:
        self._tx(lambda s: store.set_setting(s, Key.PUBLIC_URL, url))

    # --- the admin account --------------------------------------------------------------

    def ensure_admin_password(self) -> str | None:
        """Make the admin password at first start; returns it that once, else None."""
        if self._tx(lambda s: store.get_setting(s, Key.ADMIN_PASSWORD_HASH)) is not None:
            return None
        password = secrets.new_password()
        self.set_admin_password(password)
        return password

    def set_admin_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise HubError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
        stored = secrets.hash_secret(password)
        self._tx(lambda s: store.set_setting(s, Key.ADMIN_PASSWORD_HASH, stored))

    def authenticate(self, username: str, password: str) -> Account | None:
        """For :class:`boxcert.web.LoginGate`: the one admin account, any user name."""
        stored = self._tx(lambda s: store.get_setting(s, Key.ADMIN_PASSWORD_HASH))
        return check_stored_password(ADMIN, stored, password)

    def stamp(self, account_id: str) -> str | None:
        stored = self._tx(lambda s: store.get_setting(s, Key.ADMIN_PASSWORD_HASH))
        return password_stamp(stored) if stored is not None and account_id == ADMIN else None

    # --- pairing ------------------------------------------------------------------------

    def new_token(self, lifetime: timedelta = DEFAULT_TOKEN_LIFETIME) -> PairingToken:
        if not timedelta(seconds=1) <= lifetime <= MAX_TOKEN_LIFETIME:
            raise HubError("a pairing token lives between 1 second and 7 days")
        public_url = self.public_url()
        if public_url is None:
            raise HubError(
                "the hub's URL is not known yet: start `boxcert hub serve` once "
                "(with --public-url when boxes reach it by another address)"
            )
        token = PairingToken(public_url, secrets.new_token(12), secrets.new_token(32))
        stored = secrets.hash_secret(token.secret, secrets.TOKEN_COST)
        now = self.clock()

        def run(session: Session) -> None:
            store.purge_tokens(session, now - TOKEN_KEEP)
            store.add_token(session, token.token_id, stored, now, now + lifetime)

        self._tx(run)
        return token

    def connect(self, request: ConnectRequest, client: str) -> ConnectAnswer:
        """Pair the box that sent ``request`` from address ``client``; PairingRefused else."""
        try:
            return self._tx(lambda s: self._connect(s, request, client))
        except PairingRefused as refused:
            log.warning("pairing refused for a box at %s: %s", client, refused.refusal.value)
            raise

    def _connect(self, session: Session, request: ConnectRequest, client: str) -> ConnectAnswer:
        values = store.settings(session)
        public_url = values.get(Key.PUBLIC_URL)
        if not all(values.get(k) for k in _REQUIRED) or not public_url:
            raise PairingRefused(PairingRefusal.NOT_CONFIGURED)
        token = request.token
        row = store.token_row(session, token.token_id)
        if row is None:
            secrets.burn_time(secrets.TOKEN_COST)
            raise PairingRefused(PairingRefusal.UNKNOWN)
        if not secrets.verify_secret(token.secret, row.secret_hash):
            raise PairingRefused(PairingRefusal.UNKNOWN)
        now = self.clock()
        if row.used_at is not None:
            raise PairingRefused(PairingRefusal.USED)
        if now >= row.expires_at:
            raise PairingRefused(PairingRefusal.EXPIRED)
        if not store.use_token(session, token.token_id, request.identifier, now):
            raise PairingRefused(PairingRefusal.USED)
        box_secret = BoxSecret(secrets.new_token(12), secrets.new_token(32))
        store.pair_box(
            session,
            request.identifier,
            request.name,
            _address(client),
            box_secret.secret_id,
            secrets.hash_secret(box_secret.secret, secrets.TOKEN_COST),
            now,
        )
        log.info("paired box %s (%s)", request.identifier, request.name or "no name")
        return ConnectAnswer(
            server_url=public_url,
            db_uuid=values[Key.DB_UUID],
            enterprise_code=values[Key.ENTERPRISE_CODE],
            issuer_url=values[Key.ISSUER_URL],
            zone=values[Key.ZONE],
            box_secret=box_secret,
        )

    # --- reports ------------------------------------------------------------------------

    def report(self, secret: BoxSecret, report: BoxReport) -> None:
        def run(session: Session) -> None:
            box = store.box_by_secret_id(session, secret.secret_id)
            if box is None or box.secret_hash is None:
                secrets.burn_time(secrets.TOKEN_COST)
                raise BoxRefused(401, "this box is not paired with the hub (pair it again)")
            if not secrets.verify_secret(secret.secret, box.secret_hash):
                raise BoxRefused(401, "this box is not paired with the hub (pair it again)")
            if box.identifier != report.identifier:
                raise BoxRefused(403, "this box secret belongs to another box")
            before = (box.state, box.error_code)
            store.apply_report(box, report, self.clock())
            if before != (box.state, box.error_code):
                log.info(
                    "box %s: %s -> %s%s",
                    box.identifier,
                    before[0] or "new",
                    box.state,
                    f" ({box.error_code})" if box.error_code else "",
                )

        self._tx(run)

    def legacy_report(self, report: LegacyReport) -> None:
        def run(session: Session) -> None:
            box = store.box_by_identifier(session, report.identifier)
            if box is None:
                log.info("legacy report for unknown box %s refused", printable(report.identifier))
                raise UnknownBox(f"no box {report.identifier!r} is known to this hub")
            if box.kind != BoxKind.LEGACY.value:
                raise BoxRefused(403, "this box is paired with the hub: it reports with its secret")
            store.apply_legacy_report(box, report.certificate_end_date, self.clock())

        self._tx(run)

    # --- boxes --------------------------------------------------------------------------

    def boxes(self) -> list[BoxView]:
        now = self.clock()
        return [box_view(row, now) for row in self._tx(store.list_boxes)]

    def box(self, identifier: str) -> BoxView:
        row = self._tx(lambda s: store.box_by_identifier(s, identifier))
        if row is None:
            raise UnknownBox(f"no box {identifier!r} is known to this hub")
        return box_view(row, self.clock())

    def add_legacy_box(self, identifier: str, name: str) -> None:
        """Accept the legacy reports of an existing vendor box known by ``identifier``."""
        for text, limit, what in ((identifier, 128, "identifier"), (name, 100, "name")):
            if len(text) > limit or not is_clean_text(text):
                raise HubError(f"the {what} is too long or holds control characters")
        if not identifier:
            raise HubError("the identifier is empty")
        row = self._tx(lambda s: store.add_legacy_box(s, identifier, name, self.clock()))
        if row is None:
            raise HubError(f"a box {identifier!r} is already known")

    def forget(self, identifier: str) -> None:
        if not self._tx(lambda s: store.forget_box(s, identifier)):
            raise UnknownBox(f"no box {identifier!r} is known to this hub")
        log.info("forgot box %s", identifier)


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""
