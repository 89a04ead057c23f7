"""The admin API's cursors: a listing's ``next``, given back as ``after``.

A cursor is a position in a listing's order, nothing more: base64url (unpadded) of a small
JSON list, tagged with the listing it is for — ``["b", database, first seen, label]`` for
boxes, ``["c", id]`` for certificates. It is opaque to clients and not signed: a forged one is
only another position, read with the same filters and the same token as any page, so it shows
nothing the client could not list anyway. Anything but a well-formed cursor of the right
listing is :class:`BadCursor`, with a message a client can act on.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from boxcert.issuer.store.removals import BoxKey

MAX_CURSOR = 512  # characters; a box's cursor is about 120
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_MAX_ID = 2**63 - 1
_BOXES, _CERTIFICATES = "b", "c"


class BadCursor(ValueError):
    """Not a cursor this listing gave."""


def box_cursor(key: BoxKey) -> str:
    db_uuid, first_seen, label = key
    return _encode([_BOXES, db_uuid, first_seen.astimezone(UTC).isoformat(), label])


def box_position(cursor: str) -> BoxKey:
    db_uuid, first_seen, label = _decode(cursor, _BOXES, 3)
    if not (_is_text(db_uuid) and _is_text(label) and isinstance(first_seen, str)):
        raise _bad()
    try:
        at = datetime.fromisoformat(first_seen)
        if at.tzinfo is None:
            raise _bad()
        return (db_uuid, at.astimezone(UTC), label)
    except (ValueError, OverflowError) as err:
        raise _bad() from err


def certificate_cursor(certificate_id: int) -> str:
    return _encode([_CERTIFICATES, certificate_id])


def certificate_position(cursor: str) -> int:
    (certificate_id,) = _decode(cursor, _CERTIFICATES, 1)
    if type(certificate_id) is not int or not 1 <= certificate_id <= _MAX_ID:
        raise _bad()
    return certificate_id


def _encode(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(cursor: str, tag: str, fields: int) -> list[Any]:
    if len(cursor) > MAX_CURSOR or not _BASE64URL.fullmatch(cursor):
        raise _bad()
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as err:  # binascii.Error, UnicodeDecodeError and JSON's are ValueErrors
        raise _bad() from err
    if not isinstance(values, list) or len(values) != fields + 1 or values[0] != tag:
        raise _bad()
    return values[1:]


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and _TEXT.fullmatch(value) is not None


def _bad() -> BadCursor:
    return BadCursor(
        "not a cursor of this listing: pass the `next` of its previous page as it was given"
    )
