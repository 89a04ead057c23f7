"""What to do, fitted to the cause: the remedy a status shows when the code's own is too general.

An error code names a class of failure (``ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION`` covers a dead
network and an untrusted certificate alike); the cause the box saw often names the fix. An
:class:`Advice` is recorded with the failure as data (``state.json`` keeps its key, never the
text) and :func:`explain` turns a status into the three lines every surface shows — the CLI,
``status --json``, the homepage — so they always agree. Precedence: the advice fitted to the
cause, then the issuer's refusal in our words (:mod:`boxcert.wire.refusals`), then the code's
own cause and remedy (:mod:`boxcert.codes`).

The pure classifiers (:func:`for_exchange`, :func:`for_status`, :func:`for_untrusted_chain`)
decide from what the exchange gave; they are tested against tables.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509

from boxcert.box.errors import FailureKind
from boxcert.wire import X509_PATH
from boxcert.wire.refusals import REFUSALS

if TYPE_CHECKING:
    from boxcert.box.status import BoxStatus


class Advice(enum.StrEnum):
    TRUST_LOCAL_ROOT = "trust_local_root"  # the delivered chain ends at a root the box lacks
    ISSUER_CA = "issuer_ca"  # the issuer's own TLS chains to a root the box lacks
    ISSUER_URL_PATH = "issuer_url_path"  # the issuer URL carries /iot/x509: a 404
    ISSUER_TLS_NAME = "issuer_tls_name"  # the issuer's TLS certificate is for another name


ADVICE: dict[Advice, str] = {
    Advice.TRUST_LOCAL_ROOT: (
        "The certificate service signs with a certificate authority of its own, which this "
        "box does not trust yet. On the service, `boxcert issuer ca-bundle --data DIR > "
        "root.pem` writes its root; copy it to the box and run `boxcert box configure "
        "--trust-ca root.pem`. The box retries by itself."
    ),
    Advice.ISSUER_CA: (
        "The certificate service's own TLS certificate comes from an authority this box does "
        "not trust. Give the box that authority's certificate with `boxcert box configure "
        "--issuer-ca FILE` (for a service on its local CA, `boxcert issuer ca-bundle` on the "
        "service writes it; give the same file to `--trust-ca`)."
    ),
    Advice.ISSUER_URL_PATH: (
        "The certificate service's address must be its base URL: remove `/iot/x509` from it "
        "(the box adds that path itself) with `boxcert box configure --issuer "
        "https://HOST[:PORT]`."
    ),
    Advice.ISSUER_TLS_NAME: (
        "The certificate service's TLS certificate is not for the host name in the box's "
        "issuer URL. Use the name the service's certificate carries in `boxcert box "
        "configure --issuer URL`."
    ),
}

VENDOR_SIDE_CAUSE = (
    "The certificate service accepted this box's credentials and found it eligible, but the "
    "vendor's certificate authority did not issue the certificate. The cause is on the "
    "vendor's side, not on this box or its subscription."
)


def for_exchange(kind: FailureKind) -> Advice | None:
    """Advice for an exchange with the issuer that got no answer."""
    return {
        FailureKind.TLS_UNTRUSTED: Advice.ISSUER_CA,
        FailureKind.TLS_NAME: Advice.ISSUER_TLS_NAME,
    }.get(kind)


def for_status(base_url: str, status: int) -> Advice | None:
    """Advice for an unusual HTTP status from ``<base_url>/iot/x509``."""
    path = urlsplit(base_url).path.rstrip("/")
    if status == 404 and path.endswith(X509_PATH):
        return Advice.ISSUER_URL_PATH
    return None


def has_exchange_path(base_url: str) -> bool:
    """The URL names the exchange itself, not the service (``…/iot/x509``)."""
    return urlsplit(base_url).path.rstrip("/").endswith(X509_PATH)


def for_untrusted_chain(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> Advice | None:
    """Advice for a delivered chain that did not verify: its top was issued by no root the
    box has (the usual case: the service's local CA, not yet given with ``--trust-ca``)."""
    top = chain[-1]
    if top.issuer in {root.subject for root in roots} or top.subject in {
        root.subject for root in roots
    }:
        return None
    return Advice.TRUST_LOCAL_ROOT


@dataclass(frozen=True, slots=True)
class Explanation:
    """Title, cause and remedy of a status with an error, as every surface shows them."""

    title: str
    cause: str
    remedy: str
    reason: str = ""  # the issuer's stated reason, in our words, for a refusal


def explain(status: BoxStatus) -> Explanation | None:
    """The words for ``status``'s error (None without one); see the module's precedence."""
    if status.error is None:
        return None
    code = status.error
    title, cause, remedy, reason = code.title, code.cause, code.remedy, ""
    if status.refusal is not None:
        meaning = REFUSALS[status.refusal]
        reason = meaning.title
        remedy = meaning.remedy
        if meaning.vendor_side:
            cause = VENDOR_SIDE_CAUSE
    if status.advice is not None:
        remedy = ADVICE[status.advice]
    return Explanation(title, cause, remedy, reason)
