"""What crosses the network between our roles, typed in one place.

- :mod:`boxcert.wire.x509` — the box⇄issuer exchange (``POST /iot/x509``): request, grant,
  refusal, and the database UUID's canonical form.
- :mod:`boxcert.wire.hub` — the box⇄hub exchange: pairing token, connect, reports (and the
  report existing vendor boxes send).
- :mod:`boxcert.wire.standing` — the box's daily "does my certificate still stand?"
  (``POST /iot/x509/standing``).
- :mod:`boxcert.wire.hubreport` — the hub's signed report of its database and installation
  (``POST /iot/hub/report``), and the report key both sides derive from the contract code.
- :mod:`boxcert.wire.refusals` — the refusal codes the issuer sends, with what each means for
  the person looking at the box.
- :mod:`boxcert.wire.errors` — the JSON body of every non-200 answer of our HTTP services.
- :mod:`boxcert.wire.text` — rules for text that crosses the network (printable only, bounded).

Timestamps on the wire are ISO 8601 with an offset; parsed values are always aware datetimes.
"""

from boxcert.wire.errors import ErrorBody, HttpErrorCode
from boxcert.wire.refusals import REFUSALS, RefusalCode, RefusalMeaning, meaning_of
from boxcert.wire.text import is_clean_text, printable
from boxcert.wire.x509 import (
    MAX_BODY_BYTES,
    X509_PATH,
    X509_PATHS,
    CertificateRequest,
    Grant,
    RefusalAnswer,
    WireError,
    canonical_uuid,
    parse_answer,
    parse_timestamp,
)

__all__ = [
    "MAX_BODY_BYTES",
    "REFUSALS",
    "X509_PATH",
    "X509_PATHS",
    "CertificateRequest",
    "ErrorBody",
    "Grant",
    "HttpErrorCode",
    "RefusalAnswer",
    "RefusalCode",
    "RefusalMeaning",
    "WireError",
    "canonical_uuid",
    "is_clean_text",
    "meaning_of",
    "parse_answer",
    "parse_timestamp",
    "printable",
]
