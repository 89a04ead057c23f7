"""The customer portal (boxcert.issuer.portal): login, the subscriptions filtered by state (In
Progress by default), a database page with its boxes' certificates, the activity page, the same
data as JSON — and nothing of another customer's. Served in-process over a real socket."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.store import accounts
from tests.issuer_support import box_request
from tests.vendor_support import PASSWORD, Vendor, login, vendor


@dataclass
class Shop:
    vendor: Vendor
    open_id: int
    paused_id: int
    other_id: int


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with vendor(tmp_path_factory.mktemp("portal")) as v:
        issuer = v.issuer
        open_id = issuer.register("db-shop", "C-SHOP-OPEN-0001")
        paused_id = issuer.register(
            "db-shop-old", "C-SHOP-PAUSED-01", state=SubscriptionState.PAUSED
        )
        with issuer.sessions.begin() as s:
            accounts.add_database(s, "db-shop-staging", DatabaseKind.STAGING, open_id, v.clock())
        other_id = issuer.register("db-other", "C-OTHER-CUST-001")
        asyncio.run(issuer.service.handle(box_request("db-shop", "C-SHOP-OPEN-0001")))
        v.account("owner@shop.example", open_id, paused_id)
        v.account("someone@other.example", other_id)
        yield Shop(v, open_id, paused_id, other_id)


def client(shop: Shop) -> httpx.Client:
    return httpx.Client(base_url=shop.vendor.url, timeout=30)


def test_pages_need_a_login(shop: Shop) -> None:
    with client(shop) as c:
        page = c.get("/my/subscriptions")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/my/subscriptions"
        api = c.get("/my/api/subscriptions")
        assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"


def test_login_and_the_state_filter(shop: Shop) -> None:
    with client(shop) as c:
        assert login(c, "Owner@Shop.example").status_code == 303  # the name ignores case
        page = c.get("/my/subscriptions")
        assert page.status_code == 200
        assert f"Subscription #{shop.open_id}" in page.text
        assert f"Subscription #{shop.paused_id}" not in page.text  # In Progress by default
        assert f"Subscription #{shop.other_id}" not in page.text
        assert 'aria-current="page">In progress (1)' in page.text
        assert "db-shop-staging" in page.text and "Not a production database" in page.text
        paused = c.get("/my/subscriptions?state=paused")
        assert f"Subscription #{shop.paused_id}" in paused.text
        assert f"Subscription #{shop.open_id}" not in paused.text
        assert "Subscription not in progress" in paused.text  # the reason and what to do
        every = c.get("/my/subscriptions?state=all").text
        assert f"#{shop.open_id}" in every and f"#{shop.paused_id}" in every
        assert f"Subscription #{shop.other_id}" not in every
        assert "C-SHOP-OPEN-0001" not in every and "C-SHOP-PAUSED-01" not in every

        data = c.get("/my/api/subscriptions").json()
        assert data["state"] == "in_progress"
        assert [s["id"] for s in data["subscriptions"]] == [shop.open_id]
        dbs = {d["uuid"]: d for d in data["subscriptions"][0]["databases"]}
        assert dbs["db-shop"]["eligible"] is True
        assert dbs["db-shop-staging"]["reason"]["code"] == "database_not_production"
        assert dbs["db-shop-staging"]["reason"]["remedy"]
        paused_json = c.get("/my/api/subscriptions?state=paused").json()
        assert [s["id"] for s in paused_json["subscriptions"]] == [shop.paused_id]


def test_a_database_page_lists_its_boxes_certificates(shop: Shop) -> None:
    with client(shop) as c:
        login(c, "owner@shop.example")
        page = c.get("/my/databases/db-shop")
        assert page.status_code == 200
        assert "This database is eligible" in page.text
        assert ".iot.boxcert.test" in page.text and "valid" in page.text
        data = c.get("/my/api/databases/db-shop").json()
        [box] = data["boxes"]
        [cert] = box["certificates"]
        assert cert["revoked"] is False and cert["names"][0].startswith("*.")
        assert cert["not_after"]
        # another customer's database is not there for this account
        assert c.get("/my/databases/db-other").status_code == 404
        assert c.get("/my/api/databases/db-other").status_code == 404
        assert c.get("/my/api/audit?database=db-other").status_code == 404


def test_the_activity_page(shop: Shop) -> None:
    with client(shop) as c:
        login(c, "owner@shop.example")
        shop.vendor.audit()  # stored
        page = c.get("/my/audit")
        assert page.status_code == 200
        assert "portal:owner@shop.example" in page.text or "issued" in page.text
        entries = c.get("/my/api/audit?database=db-shop").json()["entries"]
        assert {e["kind"] for e in entries} >= {"issued"}
        assert all(e["database"] == "db-shop" for e in entries)
        assert "db-other" not in c.get("/my/audit").text


def test_wrong_password_and_csrf(shop: Shop) -> None:
    with client(shop) as c:
        wrong = login(c, "owner@shop.example", "not-the-password")
        assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
        unknown = login(c, "nobody@shop.example", PASSWORD)
        assert unknown.status_code == 401
        forged = c.post("/login", data={"username": "owner@shop.example", "password": PASSWORD})
        assert forged.status_code == 403
    entries = shop.vendor.audit()
    failed = [e for e in entries if e.kind == "portal_login_failed"]
    assert any(e.actor == "portal:owner@shop.example" for e in failed)
    assert any(e.actor == "portal" and "unknown name" in e.detail for e in failed)
    assert all("nobody@shop.example" not in e.detail + e.actor for e in entries)
    assert all(PASSWORD not in e.detail and "not-the-password" not in e.detail for e in entries)


def test_logout_ends_the_session_everywhere(shop: Shop) -> None:
    with client(shop) as c:
        login(c, "owner@shop.example")
        assert c.get("/my/subscriptions").status_code == 200
        page = c.get("/my/subscriptions").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        c.post("/logout", data={"csrf_token": token.group(1)})
        assert c.get("/my/subscriptions").status_code == 303


def test_security_headers(shop: Shop) -> None:
    with client(shop) as c:
        page = c.get("/login")
        assert page.headers["x-frame-options"] == "DENY"
        assert "script-src" not in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        # the boxes' endpoints and the API are not behind the portal's cookie
        assert "set-cookie" not in c.get("/healthz").headers
        assert "set-cookie" not in c.get("/openapi.json").headers


def test_a_database_page_shows_its_box_cap_and_when_it_is_full(shop: Shop) -> None:
    issuer = shop.vendor.issuer
    default = issuer.service.settings.max_boxes_per_database
    with client(shop) as c:
        login(c, "owner@shop.example")
        data = c.get("/my/api/databases/db-shop").json()
        boxes = data["database"]["boxes"]
        assert boxes >= 1 and data["box_cap"] == default
        page = c.get("/my/databases/db-shop").text
        assert f"{boxes} of {default} allowed" in page and ">full<" not in page
        try:
            with issuer.sessions.begin() as s:
                accounts.set_database_max_boxes(s, "db-shop", boxes)
            assert c.get("/my/api/databases/db-shop").json()["box_cap"] == boxes
            page = c.get("/my/databases/db-shop").text
            assert f"{boxes} of {boxes} allowed" in page and ">full<" in page
            assert "raise this database's cap" in page and "Retire a box you no longer use" in page
        finally:
            with issuer.sessions.begin() as s:
                accounts.set_database_max_boxes(s, "db-shop", None)
