"""The box's Prometheus metrics, served by its front at ``/box/metrics``.

One registry per agent (never the process-wide default, so two boxes in one process — tests —
do not collide), filled by the agent through :class:`AgentObserver` and read at scrape time:

==============================================  ==============================================
``boxcert_box_certificate_expiry_seconds``      seconds until the certificate in the status
                                                ends (absent while there is none)
``boxcert_box_checks_total{outcome}``           checks by outcome: ``ok``, ``need_refresh``,
                                                the error code, or ``error`` (no code)
``boxcert_box_issuer_request_seconds``          issuer requests by ``endpoint`` (``info``,
  ``{endpoint,answered}``                       ``x509``, ``standing``), answered or not
``boxcert_box_clock_offset_seconds``            the last measured offset of the box's clock
``boxcert_box_deploy_hook_runs_total{outcome}``  deploy hook runs, ``ok`` or ``failed``
==============================================  ==============================================

Nothing secret is in a metric: no uuid, no contract code, no name of the box.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from boxcert.box.status import BoxStatus, StatusHolder
from boxcert.clock import Clock, system_clock

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def outcome_of(status: BoxStatus) -> str:
    if status.error is not None:
        return status.error.code
    return status.state.value


class _StatusGauges(Collector):
    """Gauges read from the current status at scrape time."""

    def __init__(self, holder: StatusHolder, clock: Clock) -> None:
        self.holder = holder
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        status = self.holder.current
        expiry = GaugeMetricFamily(
            "boxcert_box_certificate_expiry_seconds",
            "Seconds until the box's certificate ends (negative once it has).",
        )
        offset = GaugeMetricFamily(
            "boxcert_box_clock_offset_seconds",
            "How far the box's clock is behind its best time source (negative: ahead).",
        )
        if status is not None and status.certificate is not None:
            left = status.certificate.not_after - self.clock()
            expiry.add_metric([], left.total_seconds())
        if status is not None and status.clock is not None:
            offset.add_metric([], status.clock.check.offset.total_seconds())
        yield expiry
        yield offset


class BoxMetrics:
    """:class:`AgentObserver` over a registry of its own; :meth:`render` is the scrape."""

    def __init__(self, holder: StatusHolder, clock: Clock = system_clock) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.checks = Counter(
            "boxcert_box_checks",
            "Certificate checks of the box, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "boxcert_box_issuer_request_seconds",
            "Requests to the certificate service, by endpoint and whether an answer came.",
            ["endpoint", "answered"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.hooks = Counter(
            "boxcert_box_deploy_hook_runs",
            "Runs of the deploy hook, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_StatusGauges(holder, clock))

    def check_done(self, status: BoxStatus) -> None:
        self.checks.labels(outcome_of(status)).inc()

    def issuer_request(self, endpoint: str, seconds: float, answered: bool) -> None:
        self.requests.labels(endpoint, "yes" if answered else "no").observe(seconds)

    def hook_ran(self, ok: bool) -> None:
        self.hooks.labels("ok" if ok else "failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
