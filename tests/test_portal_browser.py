"""The portal's pages in Debian's chromium: logging in with script turned off, every page on a
desktop and on a phone, and the screenshots in docs/images/ (taken on a fixed clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.site import create_site
from boxcert.issuer.store import accounts
from boxcert.web import LoginThrottle
from boxcert.wire import CertificateRequest
from boxcert.wire.hubreport import HubReport
from tests.chromium import Chromium, chromium_path
from tests.issuer_support import Clock, box_request, make_issuer
from tests.vendor_support import PASSWORD, Vendor
from tests.web_running import serve_app

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
EMAIL = "owner@bakery.example"
MAIN, COPY = "9d0f7a52-61c4-4b8e-a0d3-2f1e5c6b7a80", "1e2d3c4b-5a69-4788-9aa0-bbccddeeff00"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


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
        for _ in range(2):
            await service.handle(box_request(MAIN, code))
        await service.handle(CertificateRequest(MAIN, code))  # an older box, no CSR
        await service.handle(box_request(COPY, code))
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


def login(browser: Chromium, portal: Portal) -> None:
    browser.navigate(portal.url + "/my/subscriptions")
    browser.fill_and_submit({"username": EMAIL, "password": PASSWORD})
    assert browser.url() == portal.url + "/my/subscriptions"


def fits_width(browser: Chromium) -> bool:
    return bool(
        browser.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_logging_in_with_script_turned_off(portal: Portal, tmp_path: Path) -> None:
    with Chromium(tmp_path) as browser:
        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.navigate(portal.url + "/my/subscriptions")
        assert browser.location() == portal.url + "/login?next=/my/subscriptions"
        browser.focus("#username")
        browser.type_text(EMAIL)
        browser.focus("#password")
        browser.type_text(PASSWORD)
        browser.press_enter()
        assert browser.location() == portal.url + "/my/subscriptions"
        assert "Your subscriptions" in browser.html()


def test_every_page_and_the_screenshots(portal: Portal, tmp_path: Path) -> None:
    with Chromium(tmp_path, width=1200, height=1000) as browser:
        login(browser, portal)
        text = browser.text()
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
        assert portal.code not in browser.html()
        assert fits_width(browser)
        browser.screenshot(DOCS_IMAGES / "portal-subscriptions.png")

        browser.navigate(portal.url + "/my/subscriptions?state=closed")
        assert "Subscription #2" in browser.text() and "Subscription #1" not in browser.text()

        browser.navigate(portal.url + f"/my/databases/{MAIN}")
        text = browser.text()
        assert "This database is eligible" in text
        assert "older boxes (shared database key)" in text and "valid" in text
        assert fits_width(browser)
        browser.screenshot(DOCS_IMAGES / "portal-database.png")

        browser.navigate(portal.url + f"/my/databases/{COPY}")
        text = browser.text()
        assert "Database used by two installations" in text
        assert "a1" * 16 in text and "b2" * 16 in text

        browser.navigate(portal.url + "/my/audit")
        text = browser.text()
        for kind in ("issued", "hub report", "duplicate marked", "lapsed", "portal login"):
            assert kind in text, kind
        assert portal.code not in browser.html()
        assert fits_width(browser)
        browser.screenshot(DOCS_IMAGES / "portal-activity.png")


def test_the_pages_fit_a_phone(portal: Portal, tmp_path: Path) -> None:
    with Chromium(tmp_path) as browser:
        browser.phone()
        browser.navigate(portal.url + "/login")
        assert fits_width(browser)
        login(browser, portal)
        for path in (
            "/my/subscriptions",
            f"/my/databases/{MAIN}",
            f"/my/databases/{COPY}",
            "/my/audit",
        ):
            browser.navigate(portal.url + path)
            assert fits_width(browser), path
        browser.navigate(portal.url + "/my/subscriptions")
        browser.screenshot(tmp_path / "portal-phone.png")
