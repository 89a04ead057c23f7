"""The box password that guards the credentials page.

Generated at the first start and handed once to ``announce`` (the console); only a salted
scrypt hash is kept, in ``<state>/password`` (0600), in the format of ``boxcert.secrets``
(``scrypt$<log2 n>$<r>$<p>$<salt>$<hash>``) so the shared module can take over unchanged.
Changing it ends every session opened under the old one (see :attr:`PasswordFile.stamp`).

Private stand-in for ``boxcert.secrets``, which another branch brings: swap on merge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path

from boxcert import pki

LOG2_N, R, P = 15, 8, 1  # 32 MiB per check: slow on purpose
MAX_PASSWORD_CHARS = 1024
MIN_NEW_PASSWORD_CHARS = 10
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=256 * r * (1 << log2_n),
        dklen=32,
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return f"scrypt${LOG2_N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Never raises: a damaged stored value or an absurd input simply does not verify."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:4]):
        return False
    log2_n, r, p = (int(x) for x in parts[1:4])
    if not (1 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        return False
    if not 0 < len(password) <= MAX_PASSWORD_CHARS:
        return False
    try:
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), expected)


def new_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(20))


class PasswordFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self, announce: Callable[[str], None]) -> None:
        """Make the first password when there is none, and hand it to ``announce`` once."""
        if self._stored():
            return
        password = new_password()
        pki.atomic_write(self.path, hash_password(password).encode() + b"\n", 0o600)
        announce(password)

    def _stored(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def check(self, password: str) -> bool:
        return verify_password(password, self._stored())

    def change(self, new: str) -> None:
        pki.atomic_write(self.path, hash_password(new).encode() + b"\n", 0o600)

    @property
    def stamp(self) -> str:
        """Changes whenever the password does: sessions remember the stamp they began under."""
        return hashlib.sha256(self._stored().encode()).hexdigest()[:16]
