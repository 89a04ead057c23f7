"""HTTP from the box: verified TLS, proxies from the environment, one deadline, a bounded
answer. What the issuer client (:mod:`boxcert.box.client`), the issuer's public facts
(:mod:`boxcert.box.issuerinfo`) and the hub client (:mod:`boxcert.box.hubclient`) share.

The whole exchange (connect, TLS, headers, body) has one deadline (:mod:`boxcert.box.deadline`);
the body is read raw (the box asks for ``identity`` and decodes nothing, so a compressed bomb
stays small) and cut off past :data:`MAX_ANSWER_BYTES`. Every failure of the network or of TLS
becomes :class:`ExchangeFailed` with one printable line a person can act on; the full story
goes to the box log, and :attr:`ExchangeFailed.kind` says what kind of failure it was (the TLS
verifier's verdict in particular), so the box can give the advice that fits. The TLS context is
the system's store, or the PEM bundle given; :func:`unverified_context` exists for one use only:
reading the issuer's ``Date`` as a hint after verified TLS failed on certificate dates.

httpcore (httpx's own transport layer) is used directly: httpx has no seam for an overall
deadline, while httpcore takes a network backend.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpcore

from boxcert.box.deadline import Deadline, DeadlineBackend, DeadlinePassed
from boxcert.box.errors import BoxError, BoxFileError, FailureKind
from boxcert.box.files import TRUST_FILE_BYTES, read_bounded
from boxcert.wire import printable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
MAX_ANSWER_BYTES = 1024 * 1024


# OpenSSL's X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code gives them.
_VERIFY_KINDS = {
    9: FailureKind.TLS_DATES,  # certificate is not yet valid
    10: FailureKind.TLS_DATES,  # certificate has expired
    2: FailureKind.TLS_UNTRUSTED,  # unable to get issuer certificate
    18: FailureKind.TLS_UNTRUSTED,  # self-signed certificate
    19: FailureKind.TLS_UNTRUSTED,  # self-signed certificate in certificate chain
    20: FailureKind.TLS_UNTRUSTED,  # unable to get local issuer certificate
    21: FailureKind.TLS_UNTRUSTED,  # unable to verify the first certificate
    62: FailureKind.TLS_NAME,  # hostname mismatch
    64: FailureKind.TLS_NAME,  # IP address mismatch
}


class ExchangeFailed(BoxError):
    """No answer came back (network, TLS, deadline, settings); ``str()`` is one line."""

    def __init__(self, message: str, kind: FailureKind = FailureKind.NETWORK) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    content: bytes | None  # None: larger than MAX_ANSWER_BYTES
    date: str = ""  # the HTTP Date header as sent (printable), "" without one


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Verifying context: the PEM bundle ``ca_file``, else the system's trust store.

    Raises ValueError (a BoxFileError, an ssl.SSLError turned into one) naming what is wrong.
    """
    if ca_file:
        try:
            pem = read_bounded(Path(ca_file), TRUST_FILE_BYTES).decode("ascii", "replace")
            return ssl.create_default_context(cadata=pem)
        except FileNotFoundError as err:
            raise ValueError(f"{ca_file} does not exist") from err
        except (BoxFileError, ssl.SSLError) as err:
            raise ValueError(str(err)) from err
    context = ssl.create_default_context()
    if not context.get_ca_certs():
        import certifi

        context.load_verify_locations(certifi.where())
    return context


def unverified_context() -> ssl.SSLContext:
    """A context that checks nothing. Only for :func:`boxcert.box.issuerinfo.date_hint`: a
    GET that sends nothing secret, whose answer's ``Date`` is used as a hint and nothing else."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a hint only: see the docstring
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


def failure_kind(err: BaseException) -> FailureKind:
    """What kind of failure ``err`` (or an exception it was raised from) is."""
    if isinstance(err, DeadlinePassed | httpcore.TimeoutException):
        return FailureKind.TIMEOUT
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _VERIFY_KINDS.get(cause.verify_code, FailureKind.TLS_OTHER)
        if isinstance(cause, ssl.SSLError):
            return FailureKind.TLS_OTHER
        cause = cause.__cause__ or cause.__context__
    return FailureKind.NETWORK


def short_cause(err: Exception) -> str:
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


def post_json(
    url: str,
    body: bytes,
    *,
    context: ssl.SSLContext,
    deadline: Deadline,
    environ: Mapping[str, str],
    headers: Sequence[tuple[str, str]] = (),
) -> Answer:
    """POST ``body`` (JSON) to ``url``; the answer whatever its status, or ExchangeFailed.

    The caller has checked that ``url`` may be used (https, or http to this machine) and made
    ``context`` (see :func:`tls_context`).
    """
    sent = [("Content-Type", "application/json"), *headers]
    return exchange(
        "POST", url, body, context=context, deadline=deadline, environ=environ, headers=sent
    )


def get(
    url: str, *, context: ssl.SSLContext, deadline: Deadline, environ: Mapping[str, str]
) -> Answer:
    """GET ``url``; the answer whatever its status, or ExchangeFailed (as :func:`post_json`)."""
    return exchange("GET", url, b"", context=context, deadline=deadline, environ=environ)


def exchange(
    method: str,
    url: str,
    body: bytes,
    *,
    context: ssl.SSLContext,
    deadline: Deadline,
    environ: Mapping[str, str],
    headers: Sequence[tuple[str, str]] = (),
) -> Answer:
    """One request under ``deadline``; the answer whatever its status, or ExchangeFailed."""
    sent = [
        (b"Accept", b"application/json"),
        # Nothing is decoded: what arrives is what is counted against MAX_ANSWER_BYTES.
        (b"Accept-Encoding", b"identity"),
        (b"User-Agent", b"boxcert-box"),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    timeouts = {"connect": CONNECT_TIMEOUT, "read": None, "write": None, "pool": None}
    try:
        with (
            _pool(url, context, DeadlineBackend(deadline), environ) as pool,
            pool.stream(
                method,
                url,
                headers=sent,
                content=body or None,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            received = {k.lower(): v for k, v in response.headers}
            content_type = received.get(b"content-type", b"unknown type")
            return Answer(
                response.status,
                printable(content_type.decode("latin-1"), 80),
                _read_bounded(response.iter_stream()),
                printable(received.get(b"date", b"").decode("latin-1"), 64),
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
        # The full story for the box log (the short commands keep DEBUG there); a running
        # box's console gets the one-line cause from its caller, not a traceback per retry.
        log.debug("request to %s failed", url, exc_info=True)
        raise ExchangeFailed(short_cause(err), failure_kind(err)) from err
