"""The hub's pages in Debian's chromium: logging in and using them with script turned off, the
layout on a desktop and on a phone, and the screenshots in docs/images/.

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
from tests.chromium import Chromium, chromium_path
from tests.hub_running import BoxClient
from tests.web_running import serve_app
from tests.web_site import FakeClock

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
LABEL = "k7q2m9x4c3v8b6n1"
ZONE = "iot.example.com"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


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


def test_the_pages_work_with_script_turned_off(hub: Hub, tmp_path: Path) -> None:
    with Chromium(tmp_path) as browser:
        browser.call("Emulation.setScriptExecutionDisabled", value=True)
        browser.navigate(hub.url + "/boxes")
        assert browser.location() == hub.url + "/login?next=/boxes"
        browser.focus("#password")
        browser.type_text(hub.password)
        browser.press_enter()
        assert browser.location() == hub.url + "/boxes"
        page = browser.html()
        assert "<h1>IoT boxes</h1>" in page and "Checkout 1" in page
        browser.focus("form[action='/tokens'] button")
        browser.press_enter()
        assert browser.location() == hub.url + "/tokens"
        assert "bxp1." in browser.html()


def test_the_iot_page_and_a_box_page(hub: Hub, tmp_path: Path) -> None:
    with Chromium(tmp_path, width=1200, height=900) as browser:
        browser.navigate(hub.url + "/boxes")
        browser.fill_and_submit({"password": hub.password})
        assert browser.url() == hub.url + "/boxes"
        text = browser.text()
        for expected in (
            "Checkout 1",
            "61 days left",
            "9 days left",
            "silent",
            codes.LOAD_REQUEST_NO_RESULT.code,
            "End date only (older box)",
        ):
            assert expected in text
        links = browser.evaluate(
            "[...document.querySelectorAll('td a[href^=\"https://\"]')].map(a => a.href)"
        )
        assert url_of("192.168.1.11") + "/" in links
        highlighted = browser.evaluate(
            "[...document.querySelectorAll('tr.attention')].map(r => r.cells[0].innerText)"
        )
        assert {line.split("\n")[0] for line in highlighted} == {
            "Checkout 2",
            "Kitchen printer",
            "Scale (deli counter)",
        }
        assert fits_width(browser)
        browser.screenshot(DOCS_IMAGES / "hub-boxes.png")

        browser.navigate(hub.url + "/boxes/a8:5e:45:10:22:03")
        text = browser.text()
        assert codes.LOAD_REQUEST_NO_RESULT.title in text
        assert codes.LOAD_REQUEST_NO_RESULT.remedy in text
        assert "the subscription of this database is closed" in text
        assert "C-never-shown" not in browser.evaluate("document.documentElement.outerHTML")
        assert fits_width(browser)
        browser.screenshot(DOCS_IMAGES / "hub-box.png")


def test_the_pages_fit_a_phone(hub: Hub, tmp_path: Path) -> None:
    with Chromium(tmp_path) as browser:
        browser.phone()
        browser.navigate(hub.url + "/login")
        assert fits_width(browser)
        browser.fill_and_submit({"password": hub.password})
        for path in ("/boxes", "/boxes/a8:5e:45:10:22:03", "/boxes/IOT-7F3A21"):
            browser.navigate(hub.url + path)
            assert fits_width(browser), path
        browser.navigate(hub.url + "/boxes")
        browser.screenshot(tmp_path / "hub-boxes-phone.png")


def fits_width(browser: Chromium) -> bool:
    return bool(
        browser.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )
