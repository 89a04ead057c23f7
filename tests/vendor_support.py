"""An issuer with everything the vendor's side adds — portal, admin API, lifecycle job, CRL —
served in-process over a real socket (so its clock can be moved), with a box driven by the real
CLI against it, an admin token and a portal account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from boxcert.issuer import tokens
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.crl import CRL_PATH
from boxcert.issuer.portal.accounts import hash_password
from boxcert.issuer.site import create_site
from boxcert.issuer.store import audit, portal
from boxcert.issuer.store.rows import AuditRecord
from boxcert.web import LoginThrottle
from tests.helpers import BoxHome
from tests.issuer_support import ZONE, Clock, Issuer, make_issuer
from tests.web_running import serve_app

PASSWORD = "portal-pass-0001"


@dataclass
class Vendor:
    """The served issuer, its clock, an admin token and the secrets a test must never find."""

    issuer: Issuer
    url: str
    token: str
    secrets: list[str] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.issuer.clock

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def account(self, email: str, *sub_ids: int) -> None:
        with self.issuer.sessions.begin() as s:
            row = portal.add_account(s, email, hash_password(PASSWORD), self.clock())
            for sub_id in sub_ids:
                portal.link_subscription(s, row.id, sub_id)

    def audit(self, db_uuid: str | None = None) -> list[AuditRecord]:
        service = self.issuer.service
        assert service.audit is not None
        service.audit.flush()
        with self.issuer.sessions.begin() as s:
            return audit.entries(s, db_uuids=[db_uuid] if db_uuid else None)

    def box(self, home: Path, db_uuid: str, code: str) -> BoxHome:
        box = BoxHome(home)
        box.configure(
            "--server",
            "http://127.0.0.1:8069",
            "--db-uuid",
            db_uuid,
            "--enterprise-code",
            code,
            "--issuer",
            self.url,
            "--trust-ca",
            str(self.issuer_dir / "ca" / "root.pem"),
        )
        return box

    issuer_dir: Path = Path()


@contextmanager
def vendor(directory: Path, **settings: Any) -> Iterator[Vendor]:
    """The issuer on a moveable clock, its local CA on the real one (so the box, on the real
    clock, accepts what it issues whatever the issuer's clock says)."""
    ca = LocalCA(directory / "ca", ZONE)
    issuer = make_issuer(directory, ca=ca, **settings)
    with issuer.sessions.begin() as s:
        token = tokens.make(s, "billing", issuer.clock).text
    app = create_site(issuer.service, throttle=LoginThrottle(clock=issuer.clock))
    with serve_app(app) as url:
        ca.crl_url = url + CRL_PATH
        yield Vendor(issuer, url, token, [token], issuer_dir=directory)
    issuer.service.close()


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    return client.post(
        "/login",
        data={
            "csrf_token": csrf.group(1),
            "username": email,
            "password": password,
            "next": "/my/subscriptions",
        },
    )
