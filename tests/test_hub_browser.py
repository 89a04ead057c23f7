"""The hub's pages in Debian's chromium (tests/browser.py: Playwright driving it): logging in
and using them with script turned off, the layout on a desktop and on a phone, and the
screenshots in docs/images/.

The hub runs in-process (over a real socket) so that its clock can be set: a box silent for
three days, a certificate ending in nine. The clock is fixed, so the screenshots come out the
same at every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boxcert import codes
from boxcert.hub.app import create_app
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig
from boxcert.wire.hub import BoxReport, BoxState, LegacyReport
from tests.browser import chromium, fits_width, needs_chromium
from tests.hub_running import BoxClient
from tests.web_running import serve_app
from tests.web_site import FakeClock

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
LABEL = "k7q2m9x4c3v8b6n1"
ZONE = "iot.example.com"

pytestmark = needs_chromium


@dataclass
class Hub:
    url: str
    password: str


def url_of(ip: str) -> str:
    return f"https://{ip.replace('.', '-')}.{LABEL}.{ZONE}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    clock = FakeClock()
    clock.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    service = open_service(tmp_path_factory.mktemp("hub"), None, clock)
    service.configure(HubConfig("uuid-1", "C-never-shown", "https://issuer.example", ZONE))
    password = service.ensure_admin_password()
    assert password is not None
    with serve_app(create_app(service, clock=clock)) as url:
        service.set_public_url(url)

        def box(identifier: str, name: str, ip: str) -> BoxClient:
            client = BoxClient(identifier, name)
            client.connect(service.new_token().encode())
            return client

        silent = box("a8:5e:45:10:22:01", "Checkout 2", "192.168.1.12")
        silent.report(
            BoxReport(
                "a8:5e:45:10:22:01",
                BoxState.OK,
                name="Checkout 2",
                ip="192.168.1.12",
                url=url_of("192.168.1.12"),
                certificate_end_date=clock() + timedelta(days=70),
            )
        )
        clock.advance(days=3)
        ok = box("a8:5e:45:10:22:00", "Checkout 1", "192.168.1.11")
        ok.report(
            BoxReport(
                "a8:5e:45:10:22:00",
                BoxState.OK,
                name="Checkout 1",
                ip="192.168.1.11",
                url=url_of("192.168.1.11"),
                certificate_end_date=clock() + timedelta(days=61, hours=3),
            )
        )
        soon = box("a8:5e:45:10:22:02", "Kitchen printer", "192.168.1.20")
        soon.report(
            BoxReport(
                "a8:5e:45:10:22:02",
                BoxState.NEED_REFRESH,
                name="Kitchen printer",
                ip="192.168.1.20",
                url=url_of("192.168.1.20"),
                certificate_end_date=clock() + timedelta(days=9, hours=5),
            )
        )
        failing = box("a8:5e:45:10:22:03", "Scale (deli counter)", "192.168.1.31")
        failing.report(
            BoxReport(
                "a8:5e:45:10:22:03",
                BoxState.ERROR,
                name="Scale (deli counter)",
                ip="192.168.1.31",
                url=url_of("192.168.1.31"),
                error_code=codes.LOAD_REQUEST_NO_RESULT.code,
                detail="subscription_not_in_progress: the subscription of this database is closed",
            )
        )
        service.add_legacy_box("IOT-7F3A21", "Payment terminal box (older model)")
        service.legacy_report(LegacyReport("IOT-7F3A21", clock() + timedelta(days=40)))
        clock.advance(hours=2)
        yield Hub(url, password)


def test_the_pages_work_with_script_turned_off(hub: Hub) -> None:
    with chromium(javascript=False) as browser:
        page = browser.page()
        page.goto(hub.url + "/boxes")
        assert page.url == hub.url + "/login?next=/boxes"
        page.fill("#password", hub.password)
        with page.expect_navigation():
            page.press("#password", "Enter")
        assert page.url == hub.url + "/boxes"
        html = page.content()
        assert "<h1>IoT boxes</h1>" in html and "Checkout 1" in html
        with page.expect_navigation():
            page.click("form[action='/tokens'] button")
        assert page.url == hub.url + "/tokens"
        assert "bxp1." in page.content()


def test_the_iot_page_and_a_box_page(hub: Hub) -> None:
    with chromium(width=1200, height=900) as browser:
        page = browser.page()
        page.goto(hub.url + "/boxes")
        page.fill("#password", hub.password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == hub.url + "/boxes"
        text = page.inner_text("body")
        for expected in (
            "Checkout 1",
            "61 days left",
            "9 days left",
            "silent",
            codes.LOAD_REQUEST_NO_RESULT.code,
            "End date only (older box)",
        ):
            assert expected in text
        links = page.eval_on_selector_all(
            'td a[href^="https://"]', "links => links.map(a => a.href)"
        )
        assert url_of("192.168.1.11") + "/" in links
        highlighted = page.eval_on_selector_all(
            "tr.attention", "rows => rows.map(r => r.cells[0].innerText)"
        )
        assert {line.split("\n")[0] for line in highlighted} == {
            "Checkout 2",
            "Kitchen printer",
            "Scale (deli counter)",
        }
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "hub-boxes.png"), full_page=True)

        page.goto(hub.url + "/boxes/a8:5e:45:10:22:03")
        text = page.inner_text("body")
        assert codes.LOAD_REQUEST_NO_RESULT.title in text
        assert codes.LOAD_REQUEST_NO_RESULT.remedy in text
        assert "the subscription of this database is closed" in text
        assert "C-never-shown" not in page.content()
        assert fits_width(page)
        page.screenshot(path=str(DOCS_IMAGES / "hub-box.png"), full_page=True)


def test_the_pages_fit_a_phone(hub: Hub, tmp_path: Path) -> None:
    with chromium(width=390, height=844, phone=True) as browser:
        page = browser.page()
        page.goto(hub.url + "/login")
        assert fits_width(page)
        page.fill("#password", hub.password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        for path in ("/boxes", "/boxes/a8:5e:45:10:22:03", "/boxes/IOT-7F3A21"):
            page.goto(hub.url + path)
            assert fits_width(page), path
        page.goto(hub.url + "/boxes")
        page.screenshot(path=str(tmp_path / "hub-boxes-phone.png"), full_page=True)
