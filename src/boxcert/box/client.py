"""Asking the issuer for a certificate, over verified TLS; failures become error codes.

One POST of :class:`boxcert.wire.CertificateRequest` to ``<issuer>/iot/x509`` through
:func:`boxcert.box.transport.post_json` (one deadline for the whole exchange, a bounded answer,
proxies from the environment). Every text that came from the network is made printable before
it reaches a status, a terminal or the log's summary line.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from boxcert import codes
from boxcert.box import advice
from boxcert.box.config import check_issuer_url
from boxcert.box.deadline import Deadline
from boxcert.box.errors import LoadError
from boxcert.box.transport import (
    MAX_ANSWER_BYTES,
    Answer,
    ExchangeFailed,
    post_json,
    proxy_for,
    tls_context,
)
from boxcert.wire import (
    X509_PATH,
    CertificateRequest,
    ErrorBody,
    Grant,
    RefusalAnswer,
    RefusalCode,
    parse_answer,
    printable,
)
from boxcert.wire.standing import STANDING_PATH, StandingAnswer, StandingQuery, parse_standing

__all__ = [
    "EXCHANGE_DEADLINE",
    "IssuerEndpoint",
    "ask_standing",
    "issuer_tls",
    "no_answer",
    "proxy_for",
    "request_certificate",
]

log = logging.getLogger(__name__)

EXCHANGE_DEADLINE = 120.0  # seconds for the whole exchange; an ACME order can take tens
STANDING_DEADLINE = 30.0  # the standing question is one indexed query on the issuer


@dataclass(frozen=True, slots=True)
class IssuerEndpoint:
    base_url: str
    ca_file: str = ""

    @property
    def x509_url(self) -> str:
        return self.base_url.rstrip("/") + X509_PATH


def _post(
    endpoint: IssuerEndpoint,
    body: bytes,
    deadline: Deadline,
    environ: Mapping[str, str],
    path: str = X509_PATH,
) -> Answer:
    context = issuer_tls(endpoint)
    try:
        url = endpoint.base_url.rstrip("/") + path
        return post_json(url, body, context=context, deadline=deadline, environ=environ)
    except ExchangeFailed as err:
        raise no_answer(err) from err


def issuer_tls(endpoint: IssuerEndpoint) -> ssl.SSLContext:
    """The verifying context for the issuer; LoadError when its URL or CA file is unusable."""
    try:
        check_issuer_url(endpoint.base_url)
        return tls_context(endpoint.ca_file)
    except (ValueError, OSError) as err:
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, printable(f"issuer settings: {err}")) from err


def no_answer(err: ExchangeFailed) -> LoadError:
    """No answer from the issuer, as the box shows it: the cause, its kind, fitting advice."""
    return LoadError(
        codes.LOAD_REQUEST_EXCEPTION,
        str(err),
        advice=advice.for_exchange(err.kind),
        failure=err.kind,
    )


def request_certificate(
    endpoint: IssuerEndpoint,
    request: CertificateRequest,
    *,
    deadline: float = EXCHANGE_DEADLINE,
    environ: Mapping[str, str] = os.environ,
) -> Grant:
    """POST the request; the grant, or LoadError with the matching code.

    Nothing of the exchange outlives ``deadline`` seconds (name resolution aside).
    """
    answer = _post(endpoint, json.dumps(request.to_json()).encode(), Deadline(deadline), environ)
    if answer.content is None:
        raise LoadError(
            codes.LOAD_REQUEST_EXCEPTION, f"the answer is larger than {MAX_ANSWER_BYTES} bytes"
        )
    if answer.status != 200:
        detail = f"the certificate service answered HTTP {answer.status}"
        error = ErrorBody.parse(answer.content)
        if error is not None and error.message:
            detail += f": {error.message}"
        raise LoadError(
            codes.LOAD_REQUEST_STATUS,
            detail,
            str(answer.status),
            advice=advice.for_status(endpoint.base_url, answer.status),
        )
    try:
        body = json.loads(answer.content)
    except (ValueError, RecursionError) as err:
        html = "html" in answer.content_type
        hint = " (a captive portal or proxy may be in the way)" if html else ""
        log.info("answer from %s is not JSON (%s)", endpoint.x509_url, answer.content_type)
        raise LoadError(
            codes.LOAD_REQUEST_EXCEPTION, f"the answer is not JSON ({answer.content_type}){hint}"
        ) from err
    parsed = parse_answer(body)  # text fields of a refusal come out printable
    if parsed is None:
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, "the certificate service sent no result")
    if isinstance(parsed, RefusalAnswer):
        try:
            known: RefusalCode | None = RefusalCode(parsed.code)
        except ValueError:
            known = None
        detail = f"{parsed.code}: {parsed.message}" if parsed.message else parsed.code
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, detail[:600], refusal=known)
    return parsed


def ask_standing(
    endpoint: IssuerEndpoint,
    query: StandingQuery,
    *,
    deadline: float = STANDING_DEADLINE,
    environ: Mapping[str, str] = os.environ,
) -> StandingAnswer:
    """Ask whether the certificate still stands (:mod:`boxcert.wire.standing`); LoadError
    when there is no usable answer (the caller keeps its certificate then)."""
    body = json.dumps(query.to_json()).encode()
    answer = _post(endpoint, body, Deadline(deadline), environ, STANDING_PATH)
    if answer.status != 200 or answer.content is None:
        raise LoadError(
            codes.LOAD_REQUEST_STATUS,
            f"the standing question was answered HTTP {answer.status}",
            str(answer.status),
        )
    try:
        parsed = parse_standing(json.loads(answer.content))
    except (ValueError, RecursionError) as err:
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, "the standing answer is not JSON") from err
    if parsed is None:
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, "the standing answer has no result")
    if isinstance(parsed, RefusalAnswer):
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, f"{parsed.code}: {parsed.message}"[:600])
    return parsed
