"""The vendor's side with real processes: ``boxcert issuer serve`` runs the lifecycle job,
the billing system closes a subscription through the admin API, the CRL the certificate names
lists it, the box shows the refusal, the subscription reopens and the box gets a certificate
again; the customer logs in to the portal; then every log and the audit table are searched for
the contract code, the token, the password and the keys."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from sqlalchemy import create_engine, text

from boxcert.issuer.hotcache import STALE_BOUND
from tests.helpers import BoxHome, cli, start_issuer

HANG_GUARD = 60.0


def _crl_lists(url: str, serial: int) -> bool:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        crl = x509.load_der_x509_crl(httpx.get(url, timeout=10).content)
        if crl.get_revoked_certificate_by_serial_number(serial) is not None:
            return True
        time.sleep(0.2)
    return False


def _pem_body(pem: str) -> list[str]:
    """The base64 lines of a PEM block: what a leaked key would look like in a log."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_the_vendors_side_end_to_end(tmp_path: Path) -> None:
    db_uuid, code = "0b7c1d2e-3f40-4152-8637-48596a7b8c9d", "C-E2E-VENDOR-77aa91"
    issuer = start_issuer(
        tmp_path / "issuer", "--revoke-grace", "0s", "--lifecycle-interval", "0.2"
    )
    try:
        issuer.add_eligible(db_uuid, code)
        status, token_out = cli(
            "issuer",
            "token",
            "add",
            "--data",
            str(issuer.data_dir),
            "--name",
            "billing",
            stdout_only=True,
        )
        assert status == 0
        token = token_out.strip()
        status, account_out = cli(
            "issuer",
            "account",
            "add",
            "--data",
            str(issuer.data_dir),
            "--email",
            "shop@customer.example",
            "--subscription",
            code,
        )
        assert status == 0, account_out
        password = account_out.rsplit(": ", 1)[1].strip()
        assert code not in token_out + account_out

        box = BoxHome(tmp_path / "box")
        box.configure(
            "--server",
            "http://127.0.0.1:8069",
            "--db-uuid",
            db_uuid,
            "--enterprise-code",
            code,
            "--issuer",
            issuer.url,
            "--trust-ca",
            str(issuer.root_pem),
        )
        assert box.ensure()[0] == 0
        leaf = x509.load_pem_x509_certificate(box.cert_path.read_bytes())
        crl_url = (
            leaf.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
            .value[0]
            .full_name[0]
            .value
        )
        assert crl_url == issuer.url + "/ca/crl"

        api = httpx.Client(
            base_url=issuer.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        assert httpx.get(issuer.url + "/api/v1/subscriptions").status_code == 401
        subs = api.get("/api/v1/subscriptions").json()["subscriptions"]
        sub_id = subs[0]["id"]
        assert (
            api.patch(f"/api/v1/subscriptions/{sub_id}", json={"state": "closed"}).status_code
            == 200
        )
        assert _crl_lists(crl_url, leaf.serial_number)  # revoked by the job inside serve
        # `serve` runs one worker per core, each with its own cache: the change reaches the
        # worker that did not take the PATCH within the cache's bound.
        time.sleep(STALE_BOUND + 0.1)

        status, report = box.ensure()
        assert status == 1
        assert report["error_code"] == "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT"
        assert report["refusal"]["code"] == "subscription_not_in_progress"
        assert not box.cert_path.exists()

        assert (
            api.patch(f"/api/v1/subscriptions/{sub_id}", json={"state": "in_progress"}).status_code
            == 200
        )
        time.sleep(STALE_BOUND + 0.1)
        assert box.ensure()[0] == 0
        assert (
            x509.load_pem_x509_certificate(box.cert_path.read_bytes()).serial_number
            != leaf.serial_number
        )

        portal = httpx.Client(base_url=issuer.url, timeout=30)
        form = portal.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        logged = portal.post(
            "/login",
            data={
                "csrf_token": csrf.group(1),
                "username": "shop@customer.example",
                "password": password,
            },
        )
        assert logged.status_code == 303
        page = portal.get("/my/subscriptions").text
        assert db_uuid in page and "Eligible" in page

        expected = ("issued", "admin_change", "lapsed", "revoked", "refused", "restored")
        expected += ("portal_login",)
        deadline = time.monotonic() + HANG_GUARD
        while True:  # the restore is noticed by the job's next run; each worker's audit
            # writer stores what it gathered a moment later
            status, out = cli(
                "issuer", "audit", "--data", str(issuer.data_dir), "--json", stdout_only=True
            )
            kinds = [e["kind"] for e in reversed(json.loads(out))]
            if set(expected) <= set(kinds) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for kind in expected:
            assert kind in kinds, kinds
        assert kinds.index("lapsed") < kinds.index("revoked") < kinds.index("refused")
    finally:
        issuer.stop()

    secrets = [code, token, token.split(".")[-1], password]
    secrets += _pem_body(box.key_path.read_text())
    secrets += _pem_body((issuer.data_dir / "ca" / "intermediate.key").read_text())
    secrets += _pem_body((issuer.data_dir / "ca" / "root.key").read_text())
    engine = create_engine(f"sqlite:///{issuer.data_dir / 'issuer.sqlite3'}")
    with engine.connect() as conn:
        audit_rows = " ".join(str(tuple(r)) for r in conn.execute(text("SELECT * FROM audit_log")))
        tokens_table = " ".join(
            str(tuple(r)) for r in conn.execute(text("SELECT * FROM api_tokens"))
        )
        accounts_table = " ".join(
            str(tuple(r)) for r in conn.execute(text("SELECT * FROM portal_accounts"))
        )
        subs_table = " ".join(
            str(tuple(r)) for r in conn.execute(text("SELECT * FROM subscriptions"))
        )
    engine.dispose()
    assert "revoked" in audit_rows
    searched = {
        "issuer log": issuer.log(),
        "box log": box.log(),
        "audit table": audit_rows,
        "api_tokens table": tokens_table,
        "portal_accounts table": accounts_table,
        "subscriptions table": subs_table,
    }
    for where, haystack in searched.items():
        for secret in secrets:
            assert secret not in haystack, f"a secret is in the {where}"
