"""The portal's pages in Debian's chromium: logging in with script turned off, every page on a
desktop and on a phone, and the screenshots in docs/images/ (taken on a fixed clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.site import create_site
from boxcert.issuer.store import accounts
from boxcert.web import LoginThrottle
from boxcert.wire import CertificateRequest
from boxcert.wire.hubreport import HubReport
from tests.browser import chromium, fits_width, needs_chromium
from tests.issuer_support import Clock, box_csr, make_issuer
from tests.vendor_support import PASSWORD, Vendor
from tests.web_running import serve_app

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
EMAIL = "owner@bakery.example"
MAIN, COPY = "9d0f7a52-61c4-4b8e-a0d3-2f1e5c6b7a80", "1e2d3c4b-5a69-4788-9aa0-bbccddeeff00"
BOXES = ("front-counter-till", "kitchen-printer")
LONG_NAME = "warehouse-shelf-label-printer-" + "0123456789abcdef" * 3  # must wrap on a phone

pytestmark = needs_chromium


@dataclass
class Portal:
    url: str
    code: str


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    issuer = make_issuer(tmp_path_factory.mktemp("portal"), clock=clock)
    code = "C-BAKERY-2026-7f3a"
    main = issuer.register(MAIN, code)
    old = issuer.register(
        "5b6a7c8d-0000-4000-8000-000000000001", "C-BAKERY-2024-11b2", state=SubscriptionState.CLOSED
    )
    with issuer.sessions.begin() as s:
        accounts.add_database(
            s, "c0ffee00-1111-4222-8333-444455556666", DatabaseKind.STAGING, main, clock()
        )
        accounts.add_database(s, COPY, DatabaseKind.PRODUCTION, main, clock())

    async def history() -> None:
        service = issuer.service
        for name in BOXES:
            await service.handle(CertificateRequest(MAIN, code, name, box_csr()))
        await service.handle(CertificateRequest(MAIN, code))  # an older box, no CSR
        await service.handle(CertificateRequest(COPY, code, LONG_NAME, box_csr()))
        clock.advance(timedelta(hours=3))
        for fp in ("a1" * 16, "b2" * 16):
            clock.advance(timedelta(minutes=5))
            await service.hub_reports.report(HubReport.signed(code, COPY, fp, clock()))
        await service.lifecycle.run_once()
        clock.advance(timedelta(days=1))

    asyncio.run(history())
    app = create_site(issuer.service, throttle=LoginThrottle(clock=clock))
    with serve_app(app) as url:
        v = Vendor(issuer, url, "")
        v.account(EMAIL, main, old)
        yield Portal(url, code)
    issuer.service.close()


def login(page: Any, portal: Portal) -> None:
    page.goto(portal.url + "/my/subscriptions")
    page.fill("#username", EMAIL)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == portal.url + "/my/subscriptions"


def test_logging_in_with_script_turned_off(portal: Portal) -> None:
    with chromium(javascript=False) as browser:
        page = browser.page()
        page.goto(portal.url + "/my/subscriptions")
        assert page.url == portal.url + "/login?next=/my/subscriptions"
        page.fill("#username", EMAIL)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.press("#password", "Enter")
        assert page.url == portal.url + "/my/subscriptions"
        assert "Your subscriptions" in page.content()


def test_every_page_and_the_screenshots(portal: Portal) -> None:
    with chromium(width=1200, height=1000) as browser:
        page = browser.page()
        login(page, portal)
        text = page.inner_text("body")
        for expected in (
            "Subscription #1",
            "In progress (1)",
            "Closed (1)",
            MAIN,
            COPY,
            "Eligible",
            "Not a production database",
            "Database used by two",
        ):
            assert expected in text, expected
        assert "Subscription #2" not in text  # closed: not shown by default
        assert portal.code not in page.content()
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "portal-subscriptions.png"), full_page=True)

        page.goto(portal.url + "/my/subscriptions?state=closed")
        text = page.inner_text("body")
        assert "Subscription #2" in text and "Subscription #1" not in text

        page.goto(portal.url + f"/my/databases/{MAIN}")
        text = page.inner_text("body")
        assert "This database is eligible" in text
        assert "older boxes (shared database key)" in text and "valid" in text
        assert text.count("Retire…") == len(BOXES)  # not the older boxes' shared key
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "portal-database.png"), full_page=True)

        with page.expect_navigation():
            page.click("tr:has-text('kitchen-printer') >> text=Retire…")
        text = page.inner_text("body")
        assert "Retire kitchen-printer" in text and "It is not a ban" in text
        assert "valid until" in text and "Retire this box" in text
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "portal-retire-box.png"), full_page=True)

        page.goto(portal.url + f"/my/databases/{COPY}")
        text = page.inner_text("body")
        assert "Database used by two installations" in text
        assert "a1" * 16 in text and "b2" * 16 in text

        page.goto(portal.url + "/my/audit")
        text = page.inner_text("body")
        for kind in ("issued", "hub report", "duplicate marked", "lapsed", "portal login"):
            assert kind in text, kind
        assert portal.code not in page.content()
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "portal-activity.png"), full_page=True)


def test_the_pages_fit_a_phone(portal: Portal, tmp_path: Path) -> None:
    with chromium(width=390, height=844, phone=True) as browser:
        page = browser.page()
        page.goto(portal.url + "/login")
        assert fits_width(page)
        login(page, portal)
        page.goto(portal.url + f"/my/databases/{COPY}")
        retire = page.get_attribute("text=Retire…", "href")
        for path in (
            "/my/subscriptions",
            f"/my/databases/{MAIN}",
            retire,
            f"/my/databases/{COPY}",
            "/my/audit",
        ):
            page.goto(portal.url + path)
            assert fits_width(page), path
        page.goto(portal.url + "/my/subscriptions")
        page.screenshot(path=str(tmp_path / "portal-phone.png"), full_page=True)


def test_retiring_a_box_with_script_turned_off(portal: Portal) -> None:
    """Last: it retires a box. The checkbox must be ticked; then the database page says so."""
    with chromium(javascript=False) as browser:
        page = browser.page()
        login(page, portal)
        page.goto(portal.url + f"/my/databases/{MAIN}")
        with page.expect_navigation():
            page.click("text=Retire… >> nth=0")
        form_url = page.url
        page.click("button.danger")  # not ticked: the browser does not send the form
        assert page.url == form_url
        page.check("input[name=confirm]")
        with page.expect_navigation():
            page.click("button.danger")
        assert page.url.startswith(portal.url + f"/my/databases/{MAIN}?retired=")
        text = page.inner_text("body")
        assert "retired: its certificate was revoked and its place is free (now " in text
        assert text.count("Retire…") == len(BOXES) - 1
