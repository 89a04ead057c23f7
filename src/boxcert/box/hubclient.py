"""The box's side of the box⇄hub exchange (:mod:`boxcert.wire.hub`): pairing, then reports.

Both go through :func:`boxcert.box.transport.post_json` (verified TLS with the system's store or
the hub's own CA, one deadline, a bounded answer) and only ever to ``https://`` or to plain
``http://`` on this machine (:func:`boxcert.wire.hub.check_transport`): the contract code and
the box secret never cross a network in clear text.

:func:`connect` raises :class:`PairingError` with one line for the person pairing: the hub's
refusal in our words (:class:`~boxcert.wire.hub.PairingRefusal`), an unreachable hub, or an
answer that is not a pairing answer. :func:`send_report` never raises: it says how the report
went (:class:`ReportOutcome`), so the reporter decides between done, retry and stop.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from boxcert.box.deadline import Deadline
from boxcert.box.errors import BoxError
from boxcert.box.transport import Answer, ExchangeFailed, post_json, tls_context
from boxcert.wire import ErrorBody, printable
from boxcert.wire.hub import (
    CONNECT_PATH,
    REPORT_PATH,
    BoxReport,
    BoxSecret,
    ConnectAnswer,
    ConnectRequest,
    PairingRefusal,
    PairingToken,
    check_transport,
)
from boxcert.wire.x509 import WireError

HUB_DEADLINE = 30.0  # seconds for one exchange with the hub


class PairingError(BoxError):
    """Pairing did not happen; ``str()`` is one line for the person pairing."""


class ReportOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    FORGOTTEN = "forgotten"  # 401: the hub does not know this box's secret (any more)
    REFUSED = "refused"  # another 4xx: the hub read the report and said no
    FAILED = "failed"  # no answer, or the hub failed (5xx): worth trying again later


@dataclass(frozen=True, slots=True)
class ReportResult:
    outcome: ReportOutcome
    detail: str = ""  # one printable line; never the secret


def _post(
    url: str,
    body: object,
    ca_file: str,
    environ: Mapping[str, str],
    deadline: float,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Raises WireError for a URL that may not carry secrets, ValueError for a bad CA file,
    ExchangeFailed when nothing came back."""
    check_transport(url, "the hub's address")
    context = tls_context(ca_file)
    return post_json(
        url,
        json.dumps(body).encode(),
        context=context,
        deadline=Deadline(deadline),
        environ=environ,
        headers=tuple((headers or {}).items()),
    )


def _refusal_text(answer: Answer) -> str:
    error = ErrorBody.parse(answer.content or b"")
    if error is not None:
        try:
            return PairingRefusal(error.code).message  # our words for a known refusal
        except ValueError:
            pass
        if error.message:
            return f"the hub refused (HTTP {answer.status}): {error.message}"
    return f"the hub answered HTTP {answer.status}"


def connect(
    token: PairingToken,
    identifier: str,
    name: str = "",
    *,
    ca_file: str = "",
    environ: Mapping[str, str] = os.environ,
    deadline: float = HUB_DEADLINE,
) -> ConnectAnswer:
    """Send the token to the hub it names; the hub's answer, or PairingError."""
    request = ConnectRequest(token, identifier, name)
    try:
        answer = _post(token.hub_url + CONNECT_PATH, request.to_json(), ca_file, environ, deadline)
    except WireError as err:
        raise PairingError(str(err)) from err
    except ValueError as err:
        raise PairingError(f"the hub's CA file: {err}") from err
    except ExchangeFailed as err:
        raise PairingError(f"the hub at {token.hub_url} did not answer: {err}") from err
    if answer.status != 200:
        raise PairingError(_refusal_text(answer))
    try:
        parsed = ConnectAnswer.from_json(json.loads(answer.content or b""))
        check_transport(parsed.server_url, "the server URL the hub sent")
    except (ValueError, RecursionError) as err:  # WireError is a ValueError
        raise PairingError(printable(f"the hub's answer cannot be used: {err}")) from err
    return parsed


def send_report(
    server_url: str,
    secret: BoxSecret,
    report: BoxReport,
    *,
    ca_file: str = "",
    environ: Mapping[str, str] = os.environ,
    deadline: float = HUB_DEADLINE,
) -> ReportResult:
    """POST the report to ``<server_url>/iot/box/report`` as this box; never raises."""
    try:
        answer = _post(
            server_url.rstrip("/") + REPORT_PATH,
            report.to_json(),
            ca_file,
            environ,
            deadline,
            secret.authorization(),
        )
    except ValueError as err:  # WireError too: settings no retry will mend, but they may change
        return ReportResult(ReportOutcome.FAILED, printable(f"hub settings: {err}"))
    except ExchangeFailed as err:
        return ReportResult(ReportOutcome.FAILED, str(err))
    if answer.status == 200:
        return ReportResult(ReportOutcome.ACCEPTED)
    error = ErrorBody.parse(answer.content or b"")
    said = f": {error.message}" if error is not None and error.message else ""
    detail = printable(f"the hub answered HTTP {answer.status}{said}")
    if answer.status == 401:
        return ReportResult(ReportOutcome.FORGOTTEN, detail)
    if 400 <= answer.status < 500:
        return ReportResult(ReportOutcome.REFUSED, detail)
    return ReportResult(ReportOutcome.FAILED, detail)
