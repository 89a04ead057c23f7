"""Contract codes are secrets: the issuer keeps a keyed hash of each, never the code.

A code is stored as HMAC-SHA256 under a key made once per installation (the ``settings`` row
``contract_code_key``, shared by every issuer on the database), plus a hint (its last four
characters, for codes of eight or more) so an operator can tell subscriptions apart. A keyed
hash rather than a slow password hash: the issuer looks a subscription up by its code, and a
contract code is a long random string, not something a person chose. A code sent by a box is
compared digest to digest with :func:`hmac.compare_digest`.

The hubs' report key (:func:`boxcert.wire.hubreport.report_key`) is derived from the code, so
the issuer derives it only while it holds a code (a subscription added, a box's request) and
keeps it sealed (AES-GCM under a key derived from the installation key, the subscription id as
associated data): the table alone reveals neither the code nor the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from boxcert.wire.hubreport import report_key

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

    def seal_report_key(self, subscription_id: int, code: str) -> str:
        """The hubs' report key for ``code``, sealed for the subscriptions table."""
        nonce = secrets.token_bytes(12)
        sealed = self._sealer().encrypt(nonce, report_key(code), _aad(subscription_id))
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open_report_key(self, subscription_id: int, sealed: str) -> bytes | None:
        """The report key from its sealed form; None when it does not open."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            return self._sealer().decrypt(raw[:12], raw[12:], _aad(subscription_id))
        except (ValueError, InvalidTag):
            return None

    def _sealer(self) -> AESGCM:
        return AESGCM(hmac.new(self._key, b"seal hub report keys", hashlib.sha256).digest())

    @staticmethod
    def same(digest: str, expected: str | None) -> bool:
        """Whether two digests match, in constant time; None (no such subscription) compares
        against a dummy so that case takes the same time and never matches."""
        return hmac.compare_digest(digest, expected or _DUMMY) and expected is not None


def _aad(subscription_id: int) -> bytes:
    return f"subscription:{subscription_id}".encode()
