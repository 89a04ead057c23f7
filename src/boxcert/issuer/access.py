"""The issuer's access log and request latency: :mod:`boxcert.accesslog` around its site.

A line ends with the exchange's outcome (``granted`` or ``refused:<code>``, left in the scope
by :mod:`.app`); a path outside the issuer's routes (:func:`.metrics.route_of`) is made
printable and cut short. ``issuer serve`` writes it to stderr by default; ``--no-access-log``
turns it off, and the latency histogram (:mod:`.metrics`) is measured either way.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from boxcert import accesslog
from boxcert.accesslog import AccessLogWriter
from boxcert.issuer.metrics import IssuerMetrics, route_of

__all__ = ["AccessLogWriter", "access_log"]


def access_log(app: ASGIApp, metrics: IssuerMetrics, writer: AccessLogWriter | None) -> ASGIApp:
    """``app`` with its requests timed into ``metrics`` and logged to ``writer`` (if any)."""
    return accesslog.AccessLog(
        app, metrics.observe, writer, known=lambda path: route_of(path) != "other"
    )
