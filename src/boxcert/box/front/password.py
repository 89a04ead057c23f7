"""The box password that guards the credentials page and the pairing form.

Generated at the first start and handed once to ``announce`` (the console); only a salted
scrypt hash is kept, in ``<home>/front/password`` (0600), made and checked by
:mod:`boxcert.secrets`. :class:`PasswordFile` is the box's one account for
:class:`boxcert.web.LoginGate` (any user name); its stamp changes with the password, so a
change ends every session opened under the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from boxcert import pki, secrets
from boxcert.web import Account
from boxcert.web.auth import check_stored_password, password_stamp

ACCOUNT = "box"
MAX_PASSWORD_CHARS = secrets.MAX_SECRET_CHARS
MIN_NEW_PASSWORD_CHARS = 10


class PasswordFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self, announce: Callable[[str], None]) -> None:
        """Make the first password when there is none, and hand it to ``announce`` once."""
        if self._stored():
            return
        password = secrets.new_password()
        self.change(password)
        announce(password)

    def _stored(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def change(self, new: str) -> None:
        pki.atomic_write(self.path, secrets.hash_secret(new).encode() + b"\n", 0o600)

    def authenticate(self, username: str, password: str) -> Account | None:
        """For :class:`boxcert.web.LoginGate` (blocking: scrypt)."""
        return check_stored_password(ACCOUNT, self._stored(), password)

    def stamp(self, account_id: str) -> str | None:
        stored = self._stored()
        return password_stamp(stored) if stored and account_id == ACCOUNT else None
