"""Secrets at rest and in comparison: salted scrypt hashes, random tokens, constant-time checks.

Every password and token a role keeps is stored as :func:`hash_secret` output, never as given:

    scrypt$<log2 n>$<r>$<p>$<salt, base64url>$<hash, base64url>

The cost parameters travel with the hash, so raising them later leaves old hashes readable
(:func:`needs_rehash` says when to store a fresh one). Two costs are defined:

- :data:`PASSWORD_COST` for what people choose or type (n=2^15, r=8: 32 MiB and tens of
  milliseconds per check — slow on purpose, so a stolen database resists guessing);
- :data:`TOKEN_COST` for machine-made secrets of 256 random bits (pairing tokens, box secrets,
  API tokens). Guessing such a secret is hopeless whatever the hash, so its cost stays low: a
  flood of forged requests must not cost the server 32 MiB each.

Comparisons use :func:`hmac.compare_digest`. :func:`verify_secret` never raises: a damaged or
foreign stored value simply does not verify. Built on the standard library only (``hashlib``,
``hmac``, ``secrets``) so the box can use it without extra packages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
from dataclasses import dataclass

SCHEME = "scrypt"
MAX_SECRET_CHARS = 1024  # longer inputs are refused before any hashing work


@dataclass(frozen=True, slots=True)
class ScryptCost:
    log2_n: int
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * r * n bytes; leave headroom above it.
        return 256 * self.r * (1 << self.log2_n)


PASSWORD_COST = ScryptCost(log2_n=15)
TOKEN_COST = ScryptCost(log2_n=10)
_SALT_BYTES = 16
_HASH_BYTES = 32
_LIMITS = ScryptCost(log2_n=20, r=16, p=4)  # a stored value asking more is not ours


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=1 << cost.log2_n,
        r=cost.r,
        p=cost.p,
        maxmem=cost.maxmem,
        dklen=_HASH_BYTES,
    )


def hash_secret(secret: str, cost: ScryptCost = PASSWORD_COST) -> str:
    """The stored form of ``secret``: a fresh random salt, the cost and the scrypt hash."""
    if len(secret) > MAX_SECRET_CHARS:
        raise ValueError(f"secrets longer than {MAX_SECRET_CHARS} characters are refused")
    salt = _random.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, cost)
    return f"{SCHEME}${cost.log2_n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(p.isdigit() for p in parts[1:4]):
        return None
    cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
    if not (
        1 <= cost.log2_n <= _LIMITS.log2_n and 1 <= cost.r <= _LIMITS.r and 1 <= cost.p <= _LIMITS.p
    ):
        return None
    try:
        return cost, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` hashes to ``stored``; False for a wrong secret or a damaged value."""
    parsed = _parse(stored)
    if parsed is None or len(secret) > MAX_SECRET_CHARS:
        return False
    cost, salt, expected = parsed
    return hmac.compare_digest(_scrypt(secret, salt, cost), expected)


def needs_rehash(stored: str, cost: ScryptCost = PASSWORD_COST) -> bool:
    """True when ``stored`` was made with another cost (or is unreadable)."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] != cost


# A hash of nothing anyone knows, checked when an account does not exist so that an unknown
# name costs the same time as a wrong password.
_DUMMY: dict[ScryptCost, str] = {}


def burn_time(cost: ScryptCost = PASSWORD_COST) -> None:
    """Spend what one :func:`verify_secret` at ``cost`` spends, and verify nothing."""
    if cost not in _DUMMY:
        _DUMMY[cost] = hash_secret(new_token(), cost)
    verify_secret("", _DUMMY[cost])


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe string (base64url, no padding) of ``nbytes`` random bytes."""
    return _random.token_urlsafe(nbytes)


def new_password() -> str:
    """A password for a person to copy: 20 characters from an alphabet without look-alikes
    (about 115 bits)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(_random.choice(alphabet) for _ in range(20))


def same(a: str, b: str) -> bool:
    """Constant-time equality of two strings (as UTF-8)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
