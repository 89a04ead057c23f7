"""Asking the issuer for a certificate, over verified TLS; failures become error codes.

One POST of :class:`boxcert.wire.CertificateRequest` to ``<issuer>/iot/x509``. The whole
exchange (connect, TLS, headers, body) has one deadline (:mod:`boxcert.box.deadline`); the body
is read raw (the box asks for ``identity`` and decodes nothing, so a compressed bomb stays
small) and cut off past :data:`MAX_ANSWER_BYTES`. Every text that came from the network is made
printable before it reaches a status, a terminal or the log's summary line.

httpcore (httpx's own transport layer) is used directly: httpx has no seam for an overall
deadline, while httpcore takes a network backend.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpcore

from boxcert import codes
from boxcert.box.config import check_issuer_url
from boxcert.box.deadline import Deadline, DeadlineBackend, DeadlinePassed
from boxcert.box.errors import BoxFileError, LoadError
from boxcert.box.files import TRUST_FILE_BYTES, read_bounded
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

log = logging.getLogger(__name__)

EXCHANGE_DEADLINE = 120.0  # seconds for the whole exchange; an ACME order can take tens
CONNECT_TIMEOUT = 10.0
MAX_ANSWER_BYTES = 1024 * 1024
STANDING_DEADLINE = 30.0  # the standing question is one indexed query on the issuer


@dataclass(frozen=True, slots=True)
class IssuerEndpoint:
    base_url: str
    ca_file: str = ""

    @property
    def x509_url(self) -> str:
        return self.base_url.rstrip("/") + X509_PATH


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    content_type: str
    content: bytes | None  # None: larger than MAX_ANSWER_BYTES


def _tls_context(ca_file: str) -> ssl.SSLContext:
    if ca_file:
        pem = read_bounded(Path(ca_file), TRUST_FILE_BYTES).decode("ascii", "replace")
        return ssl.create_default_context(cadata=pem)
    context = ssl.create_default_context()
    if not context.get_ca_certs():
        import certifi

        context.load_verify_locations(certifi.where())
    return context


def _bypassed(host: str, no_proxy: str) -> bool:
    """``no_proxy`` as curl reads it: ``*``, or names that match the host or a parent of it."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().split(","):
        entry = entry.strip().lstrip(".").split(":")[0]
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the environment names for ``url`` (``https_proxy``, ``all_proxy``, honouring
    ``no_proxy``, as httpx and curl read them); None for a direct connection."""

    def get(name: str) -> str:
        return environ.get(name) or environ.get(name.upper()) or ""

    parts = urlsplit(url)
    if _bypassed(parts.hostname or "", get("no_proxy")):
        return None
    return get(f"{parts.scheme}_proxy") or get("all_proxy") or None


def _pool(
    url: str, context: ssl.SSLContext, backend: DeadlineBackend, environ: Mapping[str, str]
) -> httpcore.ConnectionPool | httpcore.HTTPProxy:
    proxy = proxy_for(url, environ)
    if proxy is None:
        return httpcore.ConnectionPool(ssl_context=context, network_backend=backend)
    return httpcore.HTTPProxy(proxy_url=proxy, ssl_context=context, network_backend=backend)


def _short_cause(err: Exception) -> str:
    """One line a shop owner can act on; the full exception goes to the log."""
    if isinstance(err, DeadlinePassed):
        return f"timed out: {err}"
    if isinstance(err, httpcore.TimeoutException):
        return f"timed out ({type(err).__name__})"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            hint = ""
            reason = str(cause.verify_message or cause)
            if "not yet valid" in reason or "expired" in reason:
                hint = " (is the box's clock right?)"
            return printable(f"TLS verification failed: {reason}{hint}")
        cause = cause.__cause__ or cause.__context__
    return printable(f"{type(err).__name__}: {err}")


def _read_bounded(chunks: Iterable[bytes]) -> bytes | None:
    """The raw body, or None as soon as it passes MAX_ANSWER_BYTES (the rest is never read)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _post(
    endpoint: IssuerEndpoint,
    body: bytes,
    deadline: Deadline,
    environ: Mapping[str, str],
    path: str = X509_PATH,
) -> _Answer:
    try:
        check_issuer_url(endpoint.base_url)
        context = _tls_context(endpoint.ca_file)
    except (ValueError, OSError, ssl.SSLError, BoxFileError) as err:
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, printable(f"issuer settings: {err}")) from err
    url = endpoint.base_url.rstrip("/") + path
    headers = [
        (b"Content-Type", b"application/json"),
        (b"Accept", b"application/json"),
        # Nothing is decoded: what arrives is what is counted against MAX_ANSWER_BYTES.
        (b"Accept-Encoding", b"identity"),
        (b"User-Agent", b"boxcert-box"),
    ]
    timeouts = {"connect": CONNECT_TIMEOUT, "read": None, "write": None, "pool": None}
    try:
        with (
            _pool(url, context, DeadlineBackend(deadline), environ) as pool,
            pool.stream(
                "POST", url, headers=headers, content=body, extensions={"timeout": timeouts}
            ) as response,
        ):
            content_type = dict((k.lower(), v) for k, v in response.headers).get(
                b"content-type", b"unknown type"
            )
            return _Answer(
                response.status,
                printable(content_type.decode("latin-1"), 80),
                _read_bounded(response.iter_stream()),
            )
    except (
        httpcore.TimeoutException,
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.ProxyError,
        httpcore.UnsupportedProtocol,
        ssl.SSLError,
        OSError,
        ValueError,  # a URL httpcore cannot use
    ) as err:
        log.info("request to %s failed", url, exc_info=True)  # the full story, for the box log
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, _short_cause(err)) from err


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
        raise LoadError(codes.LOAD_REQUEST_STATUS, detail, str(answer.status))
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
