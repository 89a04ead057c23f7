"""The box's Prometheus metrics at ``/box/metrics``: they move as the real agent works against a
real issuer, and ``box ensure --force`` asks even while the certificate is good."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from boxcert import codes
from boxcert.box.metrics import BoxMetrics, outcome_of
from boxcert.box.status import BoxStatus, CertState, StatusHolder
from tests.front_support import front
from tests.helpers import IssuerProcess, configured_box


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_move_with_the_agents_work(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    settings = {
        "issuer": issuer.url,
        "db_uuid": eligible[0],
        "enterprise_code": eligible[1],
        "trust_ca": [str(issuer.root_pem)],
    }
    with front(tmp_path, settings=settings) as f, f.client() as client:
        first = client.get(f.url("/box/metrics"))
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
        before = samples(first.text)
        left = before[("boxcert_box_certificate_expiry_seconds", ())]
        assert 89 * 86400 < left <= 90 * 86400  # the test pair: 90 days
        assert ("boxcert_box_checks_total", (("outcome", "ok"),)) not in before
        assert f.agent.ensure(force=True).state is CertState.OK  # asks although valid
        after = samples(client.get(f.url("/box/metrics")).text)
    assert after[("boxcert_box_checks_total", (("outcome", "ok"),))] == 1
    x509 = ("boxcert_box_issuer_request_seconds_count", (("answered", "yes"), ("endpoint", "x509")))
    info = ("boxcert_box_issuer_request_seconds_count", (("answered", "yes"), ("endpoint", "info")))
    assert after[x509] == 1 and after[info] == 1
    assert after[("boxcert_box_clock_offset_seconds", ())] is not None
    # the issuer's certificate replaced the test pair: its own lifetime now
    assert after[("boxcert_box_certificate_expiry_seconds", ())] != left
    assert eligible[1] not in str(after) and eligible[0] not in str(after)


def test_ensure_force_asks_even_when_valid(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    assert box.ensure()[0] == 0
    granted = issuer.grants()
    assert box.ensure()[0] == 0 and issuer.grants() == granted  # valid: no ask
    code, out = box.run("ensure", "--force")
    assert code == 0, out
    assert issuer.grants() == granted + 1


def test_checks_are_counted_by_outcome() -> None:
    metrics = BoxMetrics(StatusHolder())
    for status in (
        BoxStatus(CertState.OK, None, ""),
        BoxStatus(CertState.ERROR, codes.CHECK_CLOCK_SKEW, ""),
        BoxStatus(CertState.ERROR, codes.CHECK_CLOCK_SKEW, ""),
        BoxStatus.problem("config.json: damaged"),
        BoxStatus(CertState.NEED_REFRESH, None, ""),
    ):
        metrics.check_done(status)
    metrics.hook_ran(False)
    found = samples(metrics.render().decode())
    assert (
        found[("boxcert_box_checks_total", (("outcome", "ERR_IOT_HTTPS_CHECK_CLOCK_SKEW"),))] == 2
    )
    assert found[("boxcert_box_checks_total", (("outcome", "error"),))] == 1
    assert found[("boxcert_box_checks_total", (("outcome", "need_refresh"),))] == 1
    assert found[("boxcert_box_deploy_hook_runs_total", (("outcome", "failed"),))] == 1
    assert ("boxcert_box_certificate_expiry_seconds", ()) not in found  # no certificate yet
    assert outcome_of(BoxStatus(CertState.OK, None, "")) == "ok"


def test_two_boxes_in_one_process_do_not_share_metrics() -> None:
    one, two = BoxMetrics(StatusHolder()), BoxMetrics(StatusHolder())
    one.check_done(BoxStatus(CertState.OK, None, ""))
    assert "boxcert_box_checks_total{" not in two.render().decode()
    assert 'boxcert_box_checks_total{outcome="ok"} 1.0' in one.render().decode()
