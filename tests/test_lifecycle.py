"""Certificates follow the subscription (boxcert.issuer.lifecycle).

The policy as a table; then the whole story with the local CA, in-process over real sockets
so the issuer's clock can jump the grace period: a box with a certificate, the subscription
closed through the admin API, the grace period, the revocation (in the CRL the certificate
names, fetched and parsed), the box learning it and showing the refusal with its reason,
the subscription reopened, and the box valid again with nobody touching it. Then several
issuers running the job at once: each certificate revoked once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.eligibility import ELIGIBLE, Verdict
from boxcert.issuer.lifecycle import Step, decide
from boxcert.issuer.models import SubscriptionState
from boxcert.issuer.store import accounts, audit
from boxcert.issuer.store.rows import LapseRow
from boxcert.wire import CertificateRequest, RefusalCode
from tests.issuer_support import ZONE, Clock, box_request, make_issuer
from tests.vendor_support import vendor

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=7)
CLOSED = Verdict(RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS, "closed")


def lapse(since: datetime) -> LapseRow:
    return LapseRow("u", since, CLOSED.code.value if CLOSED.code else "", "closed")


@pytest.mark.parametrize(
    ("verdict", "recorded", "step"),
    [
        (ELIGIBLE, None, Step.NOTHING),
        (ELIGIBLE, lapse(NOW - timedelta(days=30)), Step.RESTORE),
        (CLOSED, None, Step.START),
        (CLOSED, lapse(NOW), Step.WAIT),
        (CLOSED, lapse(NOW - GRACE + timedelta(seconds=1)), Step.WAIT),
        (CLOSED, lapse(NOW - GRACE), Step.REVOKE),
        (CLOSED, lapse(NOW - timedelta(days=60)), Step.REVOKE),
    ],
)
def test_decide(verdict: Verdict, recorded: LapseRow | None, step: Step) -> None:
    assert decide(verdict, recorded, NOW, GRACE) is step


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_closed_revoked_after_grace_then_back_by_itself(tmp_path: Path) -> None:
    code = "C-LIFECYCLE-0001"
    with vendor(tmp_path / "issuer") as v:
        v.secrets.append(code)
        sub_id = v.issuer.register("db-life", code)
        box = v.box(tmp_path / "box", "db-life", code)
        status, report = box.ensure()
        assert status == 0, report
        serial = _serial(box.cert_path)
        leaf = x509.load_pem_x509_certificate(box.cert_path.read_bytes())
        points = leaf.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
        crl_url = points.value[0].full_name[0].value
        assert crl_url == v.url + "/ca/crl"

        with v.api() as api:
            closed = api.patch(f"/api/v1/subscriptions/{sub_id}", json={"state": "closed"})
        assert closed.status_code == 200, closed.text
        job = v.issuer.service.lifecycle
        started = asyncio.run(job.run_once())
        assert started.started == ["db-life"] and not started.revoked
        # within the grace period the certificate stands, and the box says so
        v.clock.advance(GRACE - timedelta(minutes=1))
        assert not asyncio.run(job.run_once()).revoked
        status, report = box.ensure()
        assert status == 0 and _serial(box.cert_path) == serial

        v.clock.advance(timedelta(minutes=2))
        done = asyncio.run(job.run_once())
        assert done.revoked == [format(serial, "x")]
        assert not asyncio.run(job.run_once()).revoked  # once

        crl = x509.load_der_x509_crl(httpx.get(crl_url).content)
        intermediate = LocalCA(tmp_path / "issuer" / "ca", ZONE).intermediate
        assert crl.is_signature_valid(intermediate.public_key())
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason is x509.ReasonFlags.cessation_of_operation

        # the box learns it at its next check, shows the refusal with its reason, and no
        # longer presents the revoked certificate
        status, report = box.ensure()
        assert status == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
        assert report["detail"].startswith("subscription_not_in_progress:")
        assert "closed" in report["detail"]
        assert report["refusal"]["code"] == "subscription_not_in_progress"
        assert report["certificate"] is None and not box.cert_path.exists()
        assert box.status()[1]["status"] == "error"

        with v.api() as api:
            reopened = api.patch(f"/api/v1/subscriptions/{sub_id}", json={"state": "in_progress"})
        assert reopened.status_code == 200
        assert asyncio.run(job.run_once()).restored == ["db-life"]
        status, report = box.ensure()  # what the box's own loop does at its next retry
        assert status == 0, report
        assert _serial(box.cert_path) != serial

        kinds = [e.kind for e in reversed(v.audit("db-life"))]
        assert kinds == ["issued", "lapsed", "revoked", "refused", "restored", "issued"], kinds
        changes = [e.detail for e in v.audit() if e.kind == "admin_change"]
        assert f"subscription #{sub_id}: state closed" in changes
        assert all(e.actor == "admin-api:billing" for e in v.audit() if e.kind == "admin_change")


class CountingCA(LocalCA):
    """Our local CA, counting what it is asked to revoke."""

    revoked: ClassVar[list[str]] = []

    async def revoke(
        self, chain_pem: str, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> None:
        await asyncio.sleep(0.05)  # long enough for the other issuer to be waiting on the lock
        self.revoked.append(chain_pem)


def test_several_issuers_revoke_each_certificate_once(tmp_path: Path) -> None:
    clock = Clock(NOW)
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    issuers = [
        make_issuer(
            tmp_path / f"i{n}",
            url=url,
            clock=clock,
            ca=CountingCA(tmp_path / "ca", ZONE, clock=clock),
            revoke_grace=GRACE,
        )
        for n in range(3)
    ]
    CountingCA.revoked = []
    first = issuers[0]
    first.register("db-many", "C-MANY-000001")

    async def story() -> list[list[str]]:
        for _ in range(4):
            await first.service.handle(box_request("db-many", "C-MANY-000001"))
        await first.service.handle(CertificateRequest("db-many", "C-MANY-000001"))  # no CSR
        with first.sessions.begin() as s:
            accounts.set_subscription_state(s, 1, SubscriptionState.CLOSED)
        await asyncio.gather(*(i.service.lifecycle.run_once() for i in issuers))
        clock.advance(GRACE)
        reports = await asyncio.gather(*(i.service.lifecycle.run_once() for i in issuers))
        return [r.revoked for r in reports]

    revoked = asyncio.run(story())
    everything = [serial for one in revoked for serial in one]
    assert len(everything) == 5 and len(set(everything)) == 5
    assert len(CountingCA.revoked) == 5
    for issuer in issuers:
        issuer.service.close()
    with first.sessions.begin() as s:
        entries = audit.entries(s, db_uuids=["db-many"])
    assert sum(e.kind == "revoked" for e in entries) == 5
    assert sum(e.kind == "lapsed" for e in entries) == 1
