"""The issuer's JSON codec at its HTTP boundary: orjson, because the hot path spends a
noticeable share of its time reading requests and writing answers.

:func:`read` accepts exactly JSON (RFC 8259, UTF-8): it raises :class:`ValueError` with the
reason for anything else, including nesting deeper than orjson's limit (1,024 levels), lone
surrogates and integers beyond 64 bits. The encoders give compact UTF-8 (no ASCII escaping).
"""

from __future__ import annotations

import orjson

from boxcert.wire import Grant


def read(body: bytes) -> object:
    """The JSON value of ``body``; ValueError says why it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ValueError(str(err)) from err


def encode(value: object) -> bytes:
    return orjson.dumps(value)


def grant_body(grant: Grant) -> bytes:
    return orjson.dumps(grant.to_json())
