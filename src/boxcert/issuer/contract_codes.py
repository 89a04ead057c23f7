"""Contract codes are secrets: the issuer keeps a keyed hash of each, never the code.

A code is stored as HMAC-SHA256 under a key made once per installation (the ``settings`` row
``contract_code_key``, shared by every issuer on the database), plus a hint (its last four
characters, for codes of eight or more) so an operator can tell subscriptions apart. A keyed
hash rather than a slow password hash: the issuer looks a subscription up by its code, and a
contract code is a long random string, not something a person chose. A code sent by a box is
compared digest to digest with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_SETTING = "contract_code_key"
HINT_CHARS = 4
_DUMMY = "0" * 64


def new_key() -> str:
    """A new installation key, as stored in the settings table (hex)."""
    return secrets.token_hex(32)


def hint(code: str) -> str:
    """What may be shown of a code: its last characters, nothing for a short code."""
    return code[-HINT_CHARS:] if len(code) >= 2 * HINT_CHARS else ""


def shown(code_hint: str) -> str:
    return f"…{code_hint}" if code_hint else "(hidden)"


class ContractCodes:
    """Keyed hashing of contract codes under one installation's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the contract code key is too short")
        self._key = key

    def digest(self, code: str) -> str:
        return hmac.new(self._key, code.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def same(digest: str, expected: str | None) -> bool:
        """Whether two digests match, in constant time; None (no such subscription) compares
        against a dummy so that case takes the same time and never matches."""
        return hmac.compare_digest(digest, expected or _DUMMY) and expected is not None
