"""The error codes a box shows, with their explanations.

One table, read by the CLI, the box homepage and the documentation (``docs/errors/<CODE>.md``
is checked against it by the tests). The six ``ERR_IOT_HTTPS_*`` strings of the vendor's
troubleshooting guide are kept exactly; :data:`LOAD_INVALID_CERT` is ours, for an answer that
carried a certificate the box refused to install.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A code the box can show, with what it means and what to do about it."""

    code: str
    title: str
    cause: str
    remedy: str

    @property
    def doc_path(self) -> str:
        return f"docs/errors/{self.code}.md"


CHECK_NO_SERVER = ErrorCode(
    "ERR_IOT_HTTPS_CHECK_NO_SERVER",
    "Not connected to a server",
    "The box has no server (hub) configured, so it does not know which customer it works for.",
    "Pair the box with its server, or set one with `boxcert box configure --server URL`.",
)
CHECK_CERT_READ_EXCEPTION = ErrorCode(
    "ERR_IOT_HTTPS_CHECK_CERT_READ_EXCEPTION",
    "Certificate files unreadable",
    "The certificate or private key stored on the box could not be read or parsed.",
    "Check the files named in the detail (permissions, disk). A damaged certificate is "
    "replaced by the next `ensure`; a damaged key must be removed, after which the box makes "
    "a new one and gets a new name.",
)
LOAD_NO_CREDENTIAL = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL",
    "Credentials missing",
    "The database UUID or the contract code is not set on the box.",
    "Set both with `boxcert box configure --db-uuid U --enterprise-code C`, or pair the box "
    "with its server again.",
)
LOAD_REQUEST_EXCEPTION = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION",
    "Certificate service unreachable",
    "The box could not complete a request to the certificate service: no internet access, a "
    "firewall, proxy or VPN in the way, a name that does not resolve, a TLS failure (often a "
    "wrong clock) or a timeout.",
    "Read the short cause in the detail and the full error in the box log; check the box's "
    "internet access, clock and DNS with your network administrator.",
)
LOAD_REQUEST_STATUS = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS",
    "Unexpected answer from the certificate service",
    "The certificate service answered with an HTTP status other than 200; the status follows "
    "the code (for example 404 or 503).",
    "A 5xx usually means maintenance: wait and retry. Otherwise contact support and quote the "
    "three-digit status.",
)
LOAD_REQUEST_NO_RESULT = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
    "Certificate refused",
    "The certificate service answered but did not deliver a certificate: the box or its "
    "database is not eligible. The detail gives the reason the service stated.",
    "Check eligibility: a production database, a subscription in progress with an IoT Box "
    "line, and the right contract code on the box.",
)
LOAD_INVALID_CERT = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
    "Delivered certificate rejected",
    "The certificate service sent a certificate the box refused to install: unparsable, for "
    "another key or other names, expired, or not chaining to a trusted root.",
    "Nothing changed on the box: the previous certificate keeps serving. Report the detail to "
    "support; if it persists, something between the box and the service may alter traffic.",
)

ALL_CODES: tuple[ErrorCode, ...] = (
    CHECK_NO_SERVER,
    CHECK_CERT_READ_EXCEPTION,
    LOAD_NO_CREDENTIAL,
    LOAD_REQUEST_EXCEPTION,
    LOAD_REQUEST_STATUS,
    LOAD_REQUEST_NO_RESULT,
    LOAD_INVALID_CERT,
)

BY_CODE: dict[str, ErrorCode] = {c.code: c for c in ALL_CODES}


def lookup(shown: str) -> ErrorCode | None:
    """Find the table entry for a shown code, which may carry a suffix (``… 404``)."""
    return BY_CODE.get(shown.split(" ", 1)[0])
