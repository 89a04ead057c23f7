"""Asking the issuer for a certificate, over verified TLS; failures become error codes."""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from boxcert import codes
from boxcert.wire import CertificateRequest, ErrorBody, Grant, RefusalAnswer, parse_answer

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(90.0, connect=10.0)  # an ACME order can take tens of seconds
MAX_ANSWER_BYTES = 1024 * 1024
ANSWER_DEADLINE = 120.0  # seconds for the whole answer body


class LoadError(Exception):
    """Loading failed with a code the box shows; ``detail`` is safe to show."""

    def __init__(self, code: codes.ErrorCode, detail: str, suffix: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.suffix = suffix


@dataclass(frozen=True, slots=True)
class IssuerEndpoint:
    base_url: str
    ca_file: str = ""

    @property
    def x509_url(self) -> str:
        return self.base_url.rstrip("/") + "/iot/x509"


def check_issuer_url(url: str) -> None:
    """Raise ValueError unless ``url`` is https, or http to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise ValueError(f"plain http is only allowed to this machine, not {host}")
    raise ValueError(f"not an http(s) URL: {url!r}")


def _tls_context(ca_file: str) -> ssl.SSLContext:
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.create_default_context()
    if not context.get_ca_certs():
        import certifi

        context.load_verify_locations(certifi.where())
    return context


def _short_cause(err: Exception) -> str:
    """One line a shop owner can act on; the full exception goes to the log."""
    text = str(err) or type(err).__name__
    if isinstance(err, httpx.TimeoutException):
        return f"timed out ({type(err).__name__})"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            hint = ""
            reason = str(cause.verify_message or cause)
            if "not yet valid" in reason or "expired" in reason:
                hint = " (is the box's clock right?)"
            return f"TLS verification failed: {reason}{hint}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(err).__name__}: {text}"[:300]


def _read_bounded(response: httpx.Response) -> bytes | None:
    """The body, or None as soon as it passes MAX_ANSWER_BYTES (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + ANSWER_DEADLINE
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        if time.monotonic() > deadline:
            # A server dripping bytes would otherwise hold the box for as long as it likes.
            raise httpx.ReadTimeout(f"the answer took longer than {ANSWER_DEADLINE:.0f} s")
        chunks.append(chunk)
    return b"".join(chunks)


def request_certificate(endpoint: IssuerEndpoint, request: CertificateRequest) -> Grant:
    """POST the request; return the grant or raise LoadError with the matching code."""
    try:
        check_issuer_url(endpoint.base_url)
        verify = _tls_context(endpoint.ca_file)
    except (ValueError, OSError, ssl.SSLError) as err:
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, f"issuer settings: {err}") from err
    try:
        with (
            httpx.Client(verify=verify, timeout=TIMEOUT, follow_redirects=False) as client,
            client.stream(
                "POST", endpoint.x509_url, json=request.to_json(),
                # Uncompressed, so the size limit below is the size in memory.
                headers={"accept-encoding": "identity"},
            ) as response,
        ):
            content = _read_bounded(response)
    except httpx.HTTPError as err:
        log.warning("request to %s failed", endpoint.x509_url, exc_info=True)
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION, _short_cause(err)) from err
    if content is None:
        raise LoadError(codes.LOAD_REQUEST_EXCEPTION,
                        f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    if response.status_code != 200:
        detail = f"the certificate service answered HTTP {response.status_code}"
        error = ErrorBody.parse(content)
        if error is not None and error.message:
            detail += f": {error.message}"
        raise LoadError(codes.LOAD_REQUEST_STATUS, detail, str(response.status_code))
    try:
        body = json.loads(content)
    except (ValueError, RecursionError) as err:
        kind = response.headers.get("content-type", "unknown type")
        hint = " (a captive portal or proxy may be in the way)" if "html" in kind else ""
        log.warning("answer from %s is not JSON (%s)", endpoint.x509_url, kind, exc_info=True)
        raise LoadError(
            codes.LOAD_REQUEST_EXCEPTION, f"the answer is not JSON ({kind}){hint}"
        ) from err
    answer = parse_answer(body)
    if answer is None:
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, "the certificate service sent no result")
    if isinstance(answer, RefusalAnswer):
        raise LoadError(codes.LOAD_REQUEST_NO_RESULT, f"{answer.code}: {answer.message}"[:600])
    return answer
