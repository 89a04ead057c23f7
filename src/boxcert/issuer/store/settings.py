"""Per-installation secrets in the ``settings`` table, made once and shared by every issuer."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer import contract_codes
from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.models import Setting

LABEL_SECRET_KEY = "database_label_secret"  # noqa: S105 - a row name, not a secret


def _get_or_make(session: Session, key: str, make: str) -> str:
    row = session.get(Setting, key)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Setting(key=key, value=make))
        except IntegrityError:
            pass  # another issuer made it first; use theirs
        row = session.get(Setting, key)
        assert row is not None
    return row.value


def label_secret(session: Session) -> bytes:
    """The HMAC key of database labels (:func:`boxcert.naming.database_label`)."""
    return bytes.fromhex(_get_or_make(session, LABEL_SECRET_KEY, secrets.token_hex(32)))


def contract_codes_of(session: Session) -> ContractCodes:
    """The installation's contract-code hashing (its key is made by migration 0004)."""
    key = _get_or_make(session, contract_codes.KEY_SETTING, contract_codes.new_key())
    return ContractCodes(bytes.fromhex(key))


PORTAL_CSRF_KEY = "portal_csrf_key"


def portal_csrf_key(session: Session) -> bytes:
    """The portal's CSRF key, shared by every issuer so a form may be posted to any of them."""
    return bytes.fromhex(_get_or_make(session, PORTAL_CSRF_KEY, secrets.token_hex(32)))
